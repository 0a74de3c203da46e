// Package s3err tells S3 errors apart after the SDK's own retries: a
// missing object, a lost precondition (412), a conditional write that
// raced another in flight (409), and a response body that broke off after
// its headers (which the SDK does not retry: it retries requests, not
// bodies). batch, manifest and worker use it: each keeps its own retry
// numbers and messages, the tests and the re-read loop are written here once.
package s3err

import (
	"errors"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Status is the HTTP status of the response err came from, 0 if none
// (a network error, a cancelled context).
func Status(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// Code is S3's error code ("NoSuchKey", "PreconditionFailed" …), "" if
// err carries none.
func Code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// IsNoSuchKey reports whether err says the object does not exist
// (GetObject's NoSuchKey, HeadObject's NotFound), and nothing else: a
// missing bucket is not a missing key.
func IsNoSuchKey(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	switch Code(err) {
	case "NoSuchKey", "NotFound":
		return true
	}
	return false
}

// IsNotFound reports whether err is any 404: a missing key, and also a
// missing bucket or version (in the work bucket they all mean "no such
// object here").
func IsNotFound(err error) bool {
	return IsNoSuchKey(err) || Status(err) == http.StatusNotFound
}

// IsPreconditionFailed reports a lost precondition: 412 PreconditionFailed
// (If-None-Match or If-Match did not hold: someone else's write won). A
// 409 is not one (see IsRetryConflict).
func IsPreconditionFailed(err error) bool {
	return Status(err) == http.StatusPreconditionFailed || Code(err) == "PreconditionFailed"
}

// IsRetryConflict reports S3's 409 ConditionalRequestConflict: a
// conditional write raced another in flight, and the same request is to
// be sent again.
func IsRetryConflict(err error) bool {
	return Status(err) == http.StatusConflict || Code(err) == "ConditionalRequestConflict"
}
