package worker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Error codes of failed items (the ErrorCode column of report.csv).
const (
	CodeNotFound     = "NotFound"          // the source object does not exist
	CodeAccessDenied = "AccessDenied"      // the source object cannot be read
	CodeTooLarge     = "SourceTooLarge"    // over the byte cap
	CodeTooManyPix   = "TooManyPixels"     // over the pixel budget
	CodeUnsupported  = "UnsupportedFormat" // not on the allow-list
	CodeCorrupt      = "CorruptImage"      // unreadable header or data
	CodeEmpty        = "EmptySource"       // zero bytes
	CodeTimeout      = "Timeout"           // the item deadline passed
	CodeKeyTooLong   = "OutputKeyTooLong"  // an output key would exceed 1,024 bytes
	CodeS3           = "S3Error"           // S3 kept failing after retries (transient)
	CodeInternal     = "InternalError"
)

// ItemError is a permanent failure of one item: recorded with its code and
// message, not retried within the run (failed.csv feeds a redrive).
type ItemError struct {
	Code       string
	HTTPStatus int
	Msg        string
}

func (e *ItemError) Error() string { return e.Code + ": " + e.Msg }

func itemErr(code string, status int, format string, a ...any) *ItemError {
	return &ItemError{Code: code, HTTPStatus: status, Msg: fmt.Sprintf(format, a...)}
}

// FatalError ends the attempt: the child exits non-zero so the job
// definition's retry strategy acts (no credentials, missing output bucket).
type FatalError struct{ Err error }

func (e *FatalError) Error() string { return "fatal: " + e.Err.Error() }
func (e *FatalError) Unwrap() error { return e.Err }

// classifyS3 maps an S3 error (after the SDK's own retries) to an item
// error or a fatal one. what names the operation for the message.
func classifyS3(err error, what string, output bool) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	status := 0
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	code := ""
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	switch {
	case code == "NoSuchBucket" && output:
		return &FatalError{fmt.Errorf("%s: output bucket does not exist: %w", what, err)}
	case code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "ExpiredToken" || code == "InvalidToken":
		return &FatalError{fmt.Errorf("%s: credentials rejected: %w", what, err)}
	case isNoCredentials(err):
		return &FatalError{fmt.Errorf("%s: no AWS credentials: %w", what, err)}
	case (code == "AccessDenied" || status == http.StatusForbidden) && output:
		return &FatalError{fmt.Errorf("%s: access denied writing outputs: %w", what, err)}
	case code == "NoSuchKey" || code == "NotFound" || status == http.StatusNotFound:
		return itemErr(CodeNotFound, http.StatusNotFound, "%s: object not found", what)
	case code == "NoSuchBucket":
		return itemErr(CodeNotFound, http.StatusNotFound, "%s: bucket does not exist", what)
	case code == "AccessDenied" || status == http.StatusForbidden:
		return itemErr(CodeAccessDenied, http.StatusForbidden, "%s: access denied", what)
	}
	if status == 0 {
		status = http.StatusServiceUnavailable
	}
	return itemErr(CodeS3, status, "%s: %v", what, oneLine(err))
}

func isNoCredentials(err error) bool {
	msg := err.Error()
	for _, m := range []string{"failed to retrieve credentials", "no EC2 IMDS role found", "get credentials:"} {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}

func oneLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
