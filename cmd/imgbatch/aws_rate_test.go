package main

import (
	"testing"

	"github.com/imgbatch/imgbatch/internal/s3limit"
)

// TestS3RateControl: unset, the limiter is on for arrays of aimdFrom
// children or more, at their share of S3's budgets; IMGBATCH_S3_RATE
// chooses; a bad value is an error.
func TestS3RateControl(t *testing.T) {
	for _, c := range []struct {
		env, width string
		mode       s3limit.Mode
		limiter    bool
		err        bool
	}{
		{"", "", s3limit.Off, false, false},
		{"", "4", s3limit.Off, false, false},
		{"", "10000", s3limit.AIMD, true, false},
		{"aimd", "", s3limit.AIMD, true, false},
		{"adaptive", "10000", s3limit.Adaptive, false, false},
		{"off", "10000", s3limit.Off, false, false},
		{"fast", "10000", "", false, true},
	} {
		t.Setenv("IMGBATCH_S3_RATE", c.env)
		t.Setenv("AWS_BATCH_JOB_ARRAY_SIZE", c.width)
		mode, lim, err := s3RateControl()
		if mode != c.mode || (lim != nil) != c.limiter || (err != nil) != c.err {
			t.Errorf("IMGBATCH_S3_RATE=%q width %q: %q, limiter %v, err %v", c.env, c.width, mode, lim != nil, err)
		}
	}
}
