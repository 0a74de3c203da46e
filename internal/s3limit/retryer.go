package s3limit

import (
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// Mode is how a fleet's S3 clients control their request rate.
type Mode string

// Modes.
const (
	Off      Mode = "off"      // standard retries with backoff, nothing else (imgbatch before issue 20)
	AIMD     Mode = "aimd"     // this package's Limiter, standard retries
	Adaptive Mode = "adaptive" // the SDK's adaptive retry mode (client-side token bucket per client)
)

// ParseMode reads a mode ("" is AIMD).
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case "":
		return AIMD, nil
	case Off, AIMD, Adaptive:
		return m, nil
	}
	return "", fmt.Errorf("S3 rate control %q: want aimd, adaptive or off", s)
}

// Retryer is the retryer of a client in mode m: SlowDown and 5xx retried
// with exponential backoff and jitter, up to attempts attempts, waits
// capped at maxBackoff. Off and AIMD have no retry quota (a batch job
// must ride out bursts of 5xx and SlowDown, not fail items once a quota
// is spent); Adaptive is the SDK's adaptive mode over the same options.
func Retryer(m Mode, attempts int, maxBackoff time.Duration) func() aws.Retryer {
	std := func(o *retry.StandardOptions) {
		o.MaxAttempts = attempts
		if maxBackoff > 0 {
			o.MaxBackoff = maxBackoff
		}
		o.RateLimiter = ratelimit.None
	}
	if m == Adaptive {
		return func() aws.Retryer {
			return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
				o.StandardOptions = append(o.StandardOptions, std)
			})
		}
	}
	return func() aws.Retryer { return retry.NewStandard(std) }
}
