package eventbridge_test

// The publisher against the local bus (localstack/eventbus) through the real
// SDK: batching, size limits, partial and whole-call failures.

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
	"github.com/imgbatch/imgbatch/eventbridge"
	"github.com/imgbatch/imgbatch/localstack/eventbus"
	"github.com/imgbatch/imgbatch/localstack/eventbus/bustest"
)

// recorder decorates the real client (pointed at the bus) and records each
// call's entries; it changes nothing.
type recorder struct {
	next eventbridge.API
	mu   sync.Mutex
	// per call: number of entries, summed entry size, error
	counts []int
	sizes  []int
	errs   []error
}

func (r *recorder) PutEvents(ctx context.Context, in *ebsdk.PutEventsInput, opts ...func(*ebsdk.Options)) (*ebsdk.PutEventsOutput, error) {
	size := 0
	for _, e := range in.Entries {
		size += eventbridge.EntrySize(e)
	}
	out, err := r.next.PutEvents(ctx, in, opts...)
	r.mu.Lock()
	r.counts = append(r.counts, len(in.Entries))
	r.sizes = append(r.sizes, size)
	r.errs = append(r.errs, err)
	r.mu.Unlock()
	return out, err
}

func shardEvents(runID string, n int) []eventbridge.Event {
	evs := make([]eventbridge.Event, n)
	for i := range evs {
		evs[i] = eventbridge.ShardCompleted{RunID: runID, Shard: i, Epoch: 1, ResultsURI: eventbridge.S3URI("work", imgbatch.Layout{RunID: runID}.Results(i, 1)),
			Counts: imgbatch.Counts{Items: 100, Succeeded: 99, Failed: 1}, DurationMs: 1234}
	}
	return evs
}

// detailIDs are the eventIds the bus accepted, with how often each came.
func detailIDs(t *testing.T, b *eventbus.Bus) map[string]int {
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
	b := eventbus.New(eventbus.Config{})
	client, _ := bustest.Serve(t, b, b, 0)
	rec := &recorder{next: client}
	evs := shardEvents("r-25", 25)
	if err := bustest.FastPublisher(rec, "imgbatch").Publish(bustest.Context(t), evs...); err != nil {
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
		if e.Source != eventbridge.DefaultSource || e.DetailType != eventbridge.DetailTypeShardCompleted || e.EventBus != "imgbatch" {
			t.Errorf("envelope %+v", e)
		}
	}
}

func TestPublishRespectsTheSizeLimit(t *testing.T) {
	b := eventbus.New(eventbus.Config{})
	client, _ := bustest.Serve(t, b, b, 0)
	rec := &recorder{next: client}
	var evs []eventbridge.Event
	for i := 0; i < 25; i++ { // ~60 KB each: at most 4 fit below 256 KB
		evs = append(evs, eventbridge.RunFailed{RunID: fmt.Sprintf("r-%d", i), Reason: strings.Repeat("x", 60*1024)})
	}
	if err := bustest.FastPublisher(rec, "").Publish(bustest.Context(t), evs...); err != nil {
		t.Fatal(err)
	}
	total := 0
	for i, n := range rec.counts {
		total += n
		if n > eventbridge.MaxEntriesPerCall || rec.sizes[i] >= eventbridge.MaxCallBytes || rec.errs[i] != nil {
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
		if e.EventBus != eventbus.DefaultBus {
			t.Errorf("bus %q, want the default bus", e.EventBus)
		}
	}

	// One event too large for an entry is refused before anything is sent.
	rec.counts = nil
	err := bustest.FastPublisher(rec, "").Publish(bustest.Context(t), eventbridge.RunCompleted{RunID: "ok", ReportURI: "s3://w/r", SummaryURI: "s3://w/s"},
		eventbridge.RunFailed{RunID: "huge", Reason: strings.Repeat("y", eventbridge.MaxCallBytes)})
	if err == nil || !strings.Contains(err.Error(), "imgbatch:huge:run-failed") || len(rec.counts) != 0 {
		t.Errorf("oversize event: %v, %d calls", err, len(rec.counts))
	}
}

// Injected partial failures: every event is accepted at least once, with
// its stable id, and only failed entries are resent.
func TestPublishResendsOnlyFailedEntries(t *testing.T) {
	b := eventbus.New(eventbus.Config{})
	client, _ := bustest.Serve(t, b, b, 0)
	rec := &recorder{next: client}
	var mu sync.Mutex
	tries := map[string]int{}
	b.FailEntries(func(e eventbus.Entry) bool {
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
	if err := bustest.FastPublisher(rec, "imgbatch").Publish(bustest.Context(t), evs...); err != nil {
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
		s := ev.(eventbridge.ShardCompleted).Shard
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
	b := eventbus.New(eventbus.Config{})
	client, _ := bustest.Serve(t, b, b, 0)
	b.FailEntries(func(e eventbus.Entry) bool { return strings.Contains(e.Detail, `"shard":4,`) })
	p := bustest.FastPublisher(client, "imgbatch")
	p.Retry.MaxAttempts = 3
	evs := shardEvents("r-gu", 12)
	err := p.Publish(bustest.Context(t), evs...)
	var pe *eventbridge.PublishError
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
	b := eventbus.New(eventbus.Config{})
	client, _ := bustest.Serve(t, b, b, 1)
	rec := &recorder{next: client}
	b.FailCalls(4)
	if err := bustest.FastPublisher(rec, "imgbatch").Publish(bustest.Context(t), shardEvents("r-fc", 3)...); err != nil {
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
	p := bustest.FastPublisher(client, "imgbatch")
	p.Retry.MaxAttempts = 2
	err := p.Publish(bustest.Context(t), shardEvents("r-fc2", 2)...)
	var pe *eventbridge.PublishError
	var apiErr smithy.APIError
	if !errors.As(err, &pe) || len(pe.NotSent) != 2 || !errors.As(err, &apiErr) {
		t.Errorf("error %v", err)
	}
	b.FailCalls(0)
}

// Non-retryable call errors stop at once; the context bounds everything.
func TestPublishStopsOnPermanentErrors(t *testing.T) {
	b := eventbus.New(eventbus.Config{})
	var calls atomic.Int32
	deny := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-ErrorType", "AccessDeniedException")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"AccessDeniedException","message":"not allowed"}`))
	})
	client, _ := bustest.Serve(t, b, deny, 1)
	err := bustest.FastPublisher(client, "imgbatch").Publish(bustest.Context(t), shardEvents("r-ad", 12)...)
	var pe *eventbridge.PublishError
	if !errors.As(err, &pe) || len(pe.NotSent) != 12 || pe.NotSent[0].Code != "AccessDeniedException" || calls.Load() != 1 {
		t.Errorf("error %v after %d calls", err, calls.Load())
	}

	client2, _ := bustest.Serve(t, b, b, 1)
	b.FailCalls(1 << 30)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	p := eventbridge.NewPublisher(client2, "imgbatch", "")
	p.Retry = eventbridge.RetryPolicy{MaxAttempts: 1000, BaseDelay: 10 * time.Millisecond, MaxDelay: 10 * time.Millisecond}
	err = p.Publish(ctx, shardEvents("r-ctx", 1)...)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &pe) || len(pe.NotSent) != 1 {
		t.Errorf("cancelled publish: %v", err)
	}
}

func TestPublishRejectsInvalidEvents(t *testing.T) {
	p := eventbridge.NewPublisher(bustest.Client("http://127.0.0.1:1", 1), "", "")
	for _, ev := range []eventbridge.Event{nil, eventbridge.ShardCompleted{Shard: 1, ResultsURI: "s3://w/x"}, eventbridge.RunFailed{RunID: "r"}, eventbridge.RunCompleted{RunID: "r"}} {
		if err := p.Publish(context.Background(), ev); err == nil || errors.As(err, new(*eventbridge.PublishError)) {
			t.Errorf("%#v: %v", ev, err)
		}
	}
	if p.Source() != eventbridge.DefaultSource {
		t.Errorf("source %q", p.Source())
	}
}
