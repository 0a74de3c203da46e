package eventbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ebsdk "github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/smithy-go"

	"github.com/imgbatch/imgbatch"
)

// recorder decorates the real client (pointed at the bus) and records each
// call's entries; it changes nothing.
type recorder struct {
	next API
	mu   sync.Mutex
	// per call: number of entries, summed entry size, error
	counts []int
	sizes  []int
	errs   []error
}

func (r *recorder) PutEvents(ctx context.Context, in *ebsdk.PutEventsInput, opts ...func(*ebsdk.Options)) (*ebsdk.PutEventsOutput, error) {
	size := 0
	for _, e := range in.Entries {
		size += EntrySize(e)
	}
	out, err := r.next.PutEvents(ctx, in, opts...)
	r.mu.Lock()
	r.counts = append(r.counts, len(in.Entries))
	r.sizes = append(r.sizes, size)
	r.errs = append(r.errs, err)
	r.mu.Unlock()
	return out, err
}

func shardEvents(runID string, n int) []Event {
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = ShardCompleted{RunID: runID, Shard: i, Epoch: 1, ResultsURI: S3URI("work", imgbatch.Layout{RunID: runID}.Results(i, 1)),
			Counts: imgbatch.Counts{Items: 100, Succeeded: 99, Failed: 1}, DurationMs: 1234}
	}
	return evs
}

// detailIDs are the eventIds the bus accepted, with how often each came.
func detailIDs(t *testing.T, b *Bus) map[string]int {
	t.Helper()
	ids := map[string]int{}
	for _, e := range b.Events() {
		var d struct {
			EventID string `json:"eventId"`
		}
		if err := json.Unmarshal(e.Detail, &d); err != nil || d.EventID == "" {
			t.Fatalf("event without eventId: %s", e.Detail)
		}
		ids[d.EventID]++
	}
	return ids
}

func TestPublishBatchesOfTen(t *testing.T) {
	b := NewBus(BusConfig{})
	client, _ := testBus(t, b, 0)
	rec := &recorder{next: client}
	evs := shardEvents("r-25", 25)
	if err := fastPublisher(rec, "imgbatch").Publish(ctxT(t), evs...); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(rec.counts) != "[10 10 5]" {
		t.Errorf("calls of %v entries, want [10 10 5]", rec.counts)
	}
	ids := detailIDs(t, b)
	for i, ev := range evs {
		if want := fmt.Sprintf("imgbatch:r-25:shard-completed:%d", i); ev.ID() != want || ids[want] != 1 {
			t.Errorf("event %d: id %s, accepted %d times", i, ev.ID(), ids[want])
		}
	}
	for _, e := range b.Events() {
		if e.Source != DefaultSource || e.DetailType != DetailTypeShardCompleted || e.EventBus != "imgbatch" {
			t.Errorf("envelope %+v", e)
		}
	}
}

func TestPublishRespectsTheSizeLimit(t *testing.T) {
	b := NewBus(BusConfig{})
	client, _ := testBus(t, b, 0)
	rec := &recorder{next: client}
	var evs []Event
	for i := 0; i < 25; i++ { // ~60 KB each: at most 4 fit below 256 KB
		evs = append(evs, RunFailed{RunID: fmt.Sprintf("r-%d", i), Reason: strings.Repeat("x", 60*1024)})
	}
	if err := fastPublisher(rec, "").Publish(ctxT(t), evs...); err != nil {
		t.Fatal(err)
	}
	total := 0
	for i, n := range rec.counts {
		total += n
		if n > MaxEntriesPerCall || rec.sizes[i] >= MaxCallBytes || rec.errs[i] != nil {
			t.Errorf("call %d: %d entries, %d bytes, %v", i, n, rec.sizes[i], rec.errs[i])
		}
	}
	if total != 25 || len(rec.counts) != 7 { // 4+4+4+4+4+4+1
		t.Errorf("calls %v (sizes %v)", rec.counts, rec.sizes)
	}
	if ids := detailIDs(t, b); len(ids) != 25 {
		t.Errorf("%d distinct events accepted", len(ids))
	}
	for _, e := range b.Events() {
		if e.EventBus != DefaultBus {
			t.Errorf("bus %q, want the default bus", e.EventBus)
		}
	}

	// One event too large for an entry is refused before anything is sent.
	rec.counts = nil
	err := fastPublisher(rec, "").Publish(ctxT(t), RunCompleted{RunID: "ok", ReportURI: "s3://w/r", SummaryURI: "s3://w/s"},
		RunFailed{RunID: "huge", Reason: strings.Repeat("y", MaxCallBytes)})
	if err == nil || !strings.Contains(err.Error(), "imgbatch:huge:run-failed") || len(rec.counts) != 0 {
		t.Errorf("oversize event: %v, %d calls", err, len(rec.counts))
	}
}

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

// Injected partial failures: every event is accepted at least once, with
// its stable id, and only failed entries are resent.
func TestPublishResendsOnlyFailedEntries(t *testing.T) {
	b := NewBus(BusConfig{})
	client, _ := testBus(t, b, 0)
	rec := &recorder{next: client}
	var mu sync.Mutex
	tries := map[string]int{}
	b.FailEntries(func(e Entry) bool {
		var d struct {
			EventID string `json:"eventId"`
			Shard   int    `json:"shard"`
		}
		_ = json.Unmarshal([]byte(e.Detail), &d)
		mu.Lock()
		defer mu.Unlock()
		tries[d.EventID]++
		return d.Shard%3 == 0 && tries[d.EventID] <= 2 // every third event fails twice
	})
	evs := shardEvents("r-pf", 25)
	if err := fastPublisher(rec, "imgbatch").Publish(ctxT(t), evs...); err != nil {
		t.Fatal(err)
	}
	ids := detailIDs(t, b)
	for _, ev := range evs {
		if ids[ev.ID()] < 1 {
			t.Errorf("%s never accepted", ev.ID())
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, ev := range evs {
		s := ev.(ShardCompleted).Shard
		want := 1
		if s%3 == 0 {
			want = 3
		}
		if tries[ev.ID()] != want {
			t.Errorf("%s sent %d times, want %d", ev.ID(), tries[ev.ID()], want)
		}
	}
	// 25 first, then the 9 failed ones twice.
	if fmt.Sprint(rec.counts) != "[10 10 5 9 9]" {
		t.Errorf("calls %v", rec.counts)
	}
}

// An entry that keeps failing is named in the error; the rest get through.
func TestPublishGivesUpNamingTheIDs(t *testing.T) {
	b := NewBus(BusConfig{})
	client, _ := testBus(t, b, 0)
	b.FailEntries(func(e Entry) bool { return strings.Contains(e.Detail, `"shard":4,`) })
	p := fastPublisher(client, "imgbatch")
	p.Retry.MaxAttempts = 3
	evs := shardEvents("r-gu", 12)
	err := p.Publish(ctxT(t), evs...)
	var pe *PublishError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v", err)
	}
	if fmt.Sprint(pe.IDs()) != "[imgbatch:r-gu:shard-completed:4]" || pe.Attempts != 3 || pe.NotSent[0].Code != "NotSent" {
		t.Errorf("PublishError %+v", pe)
	}
	if !strings.Contains(err.Error(), "imgbatch:r-gu:shard-completed:4") {
		t.Errorf("message %q", err)
	}
	if ids := detailIDs(t, b); len(ids) != 11 {
		t.Errorf("%d accepted, want 11", len(ids))
	}
}

// Whole-call failures (500, throttling) are retried by the Publisher even
// when the SDK does not retry.
func TestPublishRetriesFailedCalls(t *testing.T) {
	b := NewBus(BusConfig{})
	client, _ := testBus(t, b, 1)
	rec := &recorder{next: client}
	b.FailCalls(4)
	if err := fastPublisher(rec, "imgbatch").Publish(ctxT(t), shardEvents("r-fc", 3)...); err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, err := range rec.errs {
		if err != nil {
			failed++
		}
	}
	if failed != 4 || len(rec.errs) != 5 {
		t.Errorf("%d calls, %d failed", len(rec.errs), failed)
	}
	if ids := detailIDs(t, b); len(ids) != 3 {
		t.Errorf("accepted %v", ids)
	}

	// Retries exhausted: every event named, the last error kept.
	b.FailCalls(100)
	p := fastPublisher(client, "imgbatch")
	p.Retry.MaxAttempts = 2
	err := p.Publish(ctxT(t), shardEvents("r-fc2", 2)...)
	var pe *PublishError
	var apiErr smithy.APIError
	if !errors.As(err, &pe) || len(pe.NotSent) != 2 || !errors.As(err, &apiErr) {
		t.Errorf("error %v", err)
	}
	b.FailCalls(0)
}

// Non-retryable call errors stop at once; the context bounds everything.
func TestPublishStopsOnPermanentErrors(t *testing.T) {
	b := NewBus(BusConfig{})
	var calls atomic.Int32
	deny := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		writeAWSError(w, http.StatusBadRequest, "AccessDeniedException", "not allowed")
	})
	client, _ := testBusWith(t, b, deny, 1)
	err := fastPublisher(client, "imgbatch").Publish(ctxT(t), shardEvents("r-ad", 12)...)
	var pe *PublishError
	if !errors.As(err, &pe) || len(pe.NotSent) != 12 || pe.NotSent[0].Code != "AccessDeniedException" || calls.Load() != 1 {
		t.Errorf("error %v after %d calls", err, calls.Load())
	}

	client2, _ := testBus(t, b, 1)
	b.FailCalls(1 << 30)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	p := NewPublisher(client2, "imgbatch", "")
	p.Retry = RetryPolicy{MaxAttempts: 1000, BaseDelay: 10 * time.Millisecond, MaxDelay: 10 * time.Millisecond}
	err = p.Publish(ctx, shardEvents("r-ctx", 1)...)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &pe) || len(pe.NotSent) != 1 {
		t.Errorf("cancelled publish: %v", err)
	}
}

func TestPublishRejectsInvalidEvents(t *testing.T) {
	p := NewPublisher(sdkClient("http://127.0.0.1:1", 1), "", "")
	for _, ev := range []Event{nil, ShardCompleted{Shard: 1, ResultsURI: "s3://w/x"}, RunFailed{RunID: "r"}, RunCompleted{RunID: "r"}} {
		if err := p.Publish(context.Background(), ev); err == nil || errors.As(err, new(*PublishError)) {
			t.Errorf("%#v: %v", ev, err)
		}
	}
	if p.Source() != DefaultSource {
		t.Errorf("source %q", p.Source())
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
			if d := r.delay(n); d < want/2 || d > want {
				t.Fatalf("delay(%d) = %v, want in [%v, %v]", n, d, want/2, want)
			}
		}
	}
}
