package eventbridge

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
)

func TestBatchesSplitBySizeAndCount(t *testing.T) {
	mk := func(sizes ...int) []pending {
		ps := make([]pending, len(sizes))
		for i, s := range sizes {
			ps[i] = pending{id: fmt.Sprint(i), size: s}
		}
		return ps
	}
	shape := func(bs [][]pending) string {
		var parts []string
		for _, b := range bs {
			parts = append(parts, fmt.Sprint(len(b)))
		}
		return strings.Join(parts, "+")
	}
	big := MaxCallBytes / 2
	cases := []struct {
		in   []pending
		want string
	}{
		{mk(make([]int, 25)...), "10+10+5"},
		{mk(big-1, big-1, big-1), "2+1"},
		{mk(big, big, big), "1+1+1"}, // a total of exactly the limit is over it
		{mk(MaxCallBytes-1, 1), "1+1"},
		{mk(1), "1"},
		{nil, ""},
	}
	for _, c := range cases {
		if got := shape(batches(c.in)); got != c.want {
			t.Errorf("batches of %d: %s, want %s", len(c.in), got, c.want)
		}
	}
}

func TestRetryClassification(t *testing.T) {
	for code, want := range map[string]bool{"InternalFailure": true, "ThrottlingException": true,
		"MalformedDetail": false, "InvalidArgument": false, "AccessDeniedException": false, "NotAuthorizedForSourceException": false} {
		if retryableEntry(code) != want {
			t.Errorf("retryableEntry(%s) != %v", code, want)
		}
	}
	if retryableCall(context.Canceled) || retryableCall(&smithy.GenericAPIError{Code: "AccessDeniedException"}) {
		t.Error("permanent errors classed retryable")
	}
	if !retryableCall(&smithy.GenericAPIError{Code: "ThrottlingException"}) || !retryableCall(&smithy.GenericAPIError{Code: "X", Fault: smithy.FaultServer}) {
		t.Error("transient errors classed permanent")
	}
	r := RetryPolicy{BaseDelay: 10 * time.Millisecond, MaxDelay: 80 * time.Millisecond}
	for n, want := range map[int]time.Duration{1: 10 * time.Millisecond, 2: 20 * time.Millisecond, 4: 80 * time.Millisecond, 30: 80 * time.Millisecond} {
		for i := 0; i < 50; i++ {
			if d := r.Delay(n); d < want/2 || d > want {
				t.Fatalf("Delay(%d) = %v, want in [%v, %v]", n, d, want/2, want)
			}
		}
	}
}
