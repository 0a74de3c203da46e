package worker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/imgbatch/imgbatch/internal/s3err"
)

// Error codes of failed items (the ErrorCode column of report.csv).
const (
	CodeNotFound     = "NotFound"           // the source object (or its bucket) does not exist
	CodeAccessDenied = "AccessDenied"       // the source object cannot be read
	CodeArchived     = "InvalidObjectState" // the source is in an archive storage class (restore it first)
	CodeTooLarge     = "SourceTooLarge"     // over the byte cap
	CodeTooManyPix   = "TooManyPixels"      // over the pixel budget
	CodeUnsupported  = "UnsupportedFormat"  // not on the allow-list, or this libvips build has no loader for it
	CodeCorrupt      = "CorruptImage"       // unreadable header or data
	CodeEncode       = "EncodeFailed"       // decoded, but a variant cannot be written in its format
	CodeEmpty        = "EmptySource"        // zero bytes
	CodeTimeout      = "Timeout"            // the item deadline passed
	CodeKeyTooLong   = "OutputKeyTooLong"   // an output key would exceed 1,024 bytes
	CodeS3           = "S3Error"            // S3 kept failing after retries (transient)
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

// FatalError ends the attempt: Process returns it, the child exits non-zero
// and the job definition's retry strategy acts. Retry tells the exit code:
// true when a fresh attempt may succeed (credentials not yet available, an
// expired session, libvips calls stuck past their deadline: exit 75, which
// the job definition retries); false when only a person can fix it (missing
// output bucket, access denied on the outputs, rejected keys: exit 1).
type FatalError struct {
	Err   error
	Retry bool
}

func (e *FatalError) Error() string { return "fatal: " + e.Err.Error() }
func (e *FatalError) Unwrap() error { return e.Err }

// fatal wraps err as a FatalError.
func fatal(retry bool, format string, a ...any) *FatalError {
	return &FatalError{Err: fmt.Errorf(format, a...), Retry: retry}
}

// classifyS3 maps an S3 error (after the SDK's own retries) to an item
// error or a fatal one. what names the operation for the message; output is
// set for requests on the output bucket, where access problems end the
// attempt instead of failing one item. Cancellation is returned unchanged.
func classifyS3(err error, what string, output bool) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	status, code := s3err.Status(err), s3err.Code(err)
	switch {
	case isNoCredentials(err):
		return fatal(true, "%s: no AWS credentials: %w", what, err)
	case code == "ExpiredToken" || code == "TokenRefreshRequired" || code == "RequestExpired":
		return fatal(true, "%s: credentials expired: %w", what, err)
	case code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "InvalidToken":
		return fatal(false, "%s: credentials rejected: %w", what, err)
	case code == "NoSuchBucket" && output:
		return fatal(false, "%s: output bucket does not exist: %w", what, err)
	case (code == "AccessDenied" || code == "AllAccessDisabled" || status == http.StatusForbidden) && output:
		return fatal(false, "%s: access denied on the output bucket: %w", what, err)
	case code == "InvalidObjectState":
		return itemErr(CodeArchived, http.StatusForbidden, "%s: object is archived (restore it before processing)", what)
	case code == "KeyTooLongError":
		return itemErr(CodeKeyTooLong, http.StatusBadRequest, "%s: key too long", what)
	case code == "NoSuchKey" || code == "NotFound" || code == "NoSuchVersion" || (status == http.StatusNotFound && code != "NoSuchBucket"):
		return itemErr(CodeNotFound, http.StatusNotFound, "%s: object not found", what)
	case code == "NoSuchBucket":
		return itemErr(CodeNotFound, http.StatusNotFound, "%s: bucket does not exist", what)
	case code == "AccessDenied" || code == "AllAccessDisabled" || status == http.StatusForbidden:
		return itemErr(CodeAccessDenied, http.StatusForbidden, "%s: access denied", what)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return itemErr(CodeS3, http.StatusRequestTimeout, "%s: timed out: %s", what, oneLine(err))
	}
	if status == 0 {
		status = http.StatusServiceUnavailable
	}
	return itemErr(CodeS3, status, "%s: %s", what, oneLine(err))
}

// isNoCredentials reports the SDK's "could not sign: no credentials" errors
// (the credential chain found nothing, or the container/instance role
// endpoint did not answer).
func isNoCredentials(err error) bool {
	msg := err.Error()
	for _, m := range []string{"failed to retrieve credentials", "failed to refresh cached credentials", "no EC2 IMDS role found", "get credentials:"} {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}

// oneLine is the first line of err, capped at 300 bytes, for report rows.
func oneLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	if len(s) > 300 {
		n := 300
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "…"
	}
	return s
}
