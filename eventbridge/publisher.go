package eventbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"
)

// API is the part of the EventBridge client the Publisher uses;
// *eventbridge.Client satisfies it.
type API interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

var _ API = (*eventbridge.Client)(nil)

// PutEvents limits.
const (
	// MaxEntriesPerCall is the most entries one PutEvents call takes.
	MaxEntriesPerCall = 10
	// MaxCallBytes bounds the summed entry size of one call (EventBridge's
	// entry size: Source + DetailType + Detail + Resources, +14 with Time).
	// The total must stay below it; 256 KB is EventBridge's long-standing
	// limit (newer documentation allows 1 MB; imgbatch stays below both).
	MaxCallBytes = 256 * 1024
)

// RetryPolicy bounds how hard the Publisher tries. Each attempt is one round
// of PutEvents calls over the entries still unsent; the SDK client's own
// retries happen inside each call.
type RetryPolicy struct {
	MaxAttempts int           // rounds per event, >= 1; default 8
	BaseDelay   time.Duration // delay after the first failed round; default 100ms
	MaxDelay    time.Duration // cap on one delay; default 5s
}

// DefaultRetryPolicy is the policy of NewPublisher.
var DefaultRetryPolicy = RetryPolicy{MaxAttempts: 8, BaseDelay: 100 * time.Millisecond, MaxDelay: 5 * time.Second}

// Delay is the pause after failed round n (1-based): exponential, capped,
// with "equal jitter" (half fixed, half random) so that concurrent workers
// spread out. The local bus (localstack/eventbus) spaces its delivery
// retries with it too.
func (r RetryPolicy) Delay(n int) time.Duration {
	base, maxD := r.BaseDelay, r.MaxDelay
	if base <= 0 {
		base = DefaultRetryPolicy.BaseDelay
	}
	if maxD <= 0 {
		maxD = DefaultRetryPolicy.MaxDelay
	}
	d := base
	for i := 1; i < n && d < maxD; i++ {
		d *= 2
	}
	d = min(d, maxD)
	half := d / 2
	return half + rand.N(d-half+1)
}

// Publisher sends imgbatch events to one event bus.
type Publisher struct {
	// Retry bounds the resending of failed entries and retryable failed
	// calls. Set it before the first Publish.
	Retry RetryPolicy

	api    API
	bus    string
	source string
	sleep  func(context.Context, time.Duration) error
}

// NewPublisher sends to busName ("" is the default bus; a name or an ARN)
// with source ("" is DefaultSource).
func NewPublisher(api API, busName, source string) *Publisher {
	if source == "" {
		source = DefaultSource
	}
	return &Publisher{Retry: DefaultRetryPolicy, api: api, bus: busName, source: source, sleep: sleepCtx}
}

// Source is the source of the events this publisher sends.
func (p *Publisher) Source() string { return p.source }

// NotSent is an event the Publisher gave up on.
type NotSent struct {
	ID         string // deterministic event id
	DetailType string
	Code       string // per-entry ErrorCode, or the API error code of the call
	Message    string
}

// PublishError names the events that were not sent. Events not named in it
// were accepted by EventBridge.
type PublishError struct {
	NotSent  []NotSent
	Attempts int   // rounds made
	Err      error // last whole-call error, or the context's error; may be nil
}

// IDs are the ids of the events not sent.
func (e *PublishError) IDs() []string {
	ids := make([]string, len(e.NotSent))
	for i, n := range e.NotSent {
		ids[i] = n.ID
	}
	return ids
}

func (e *PublishError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "eventbridge: %d event(s) not sent after %d attempt(s): ", len(e.NotSent), e.Attempts)
	for i, n := range e.NotSent {
		if i > 0 {
			b.WriteString(", ")
		}
		if i == 20 {
			fmt.Fprintf(&b, "… %d more", len(e.NotSent)-i)
			break
		}
		b.WriteString(n.ID)
		if n.Code != "" {
			fmt.Fprintf(&b, " (%s)", n.Code)
		}
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *PublishError) Unwrap() error { return e.Err }

// pending is one entry on its way.
type pending struct {
	id, detailType string
	entry          types.PutEventsRequestEntry
	size           int
}

// Publish sends events, at least once each: in calls of at most
// MaxEntriesPerCall entries whose summed size stays below MaxCallBytes.
// Entries that fail with a retryable code (InternalFailure,
// ThrottlingException) are resent alone, and calls that fail retryably
// (throttling, 5xx, connection errors) are repeated, after a backoff with
// jitter, for at most Retry.MaxAttempts rounds. Non-retryable per-entry
// failures are not resent. Anything not sent is named in a *PublishError.
//
// Events that cannot be encoded, fail their Validate or are too large for
// one entry are reported before anything is sent.
func (p *Publisher) Publish(ctx context.Context, events ...Event) error {
	if len(events) == 0 {
		return nil
	}
	todo := make([]pending, 0, len(events))
	for _, ev := range events {
		pe, err := p.entry(ev)
		if err != nil {
			return err
		}
		todo = append(todo, pe)
	}

	maxAttempts := max(p.Retry.MaxAttempts, 1)
	var (
		failed  []NotSent // permanent failures
		lastErr error
		attempt int
	)
	for attempt = 1; len(todo) > 0; attempt++ {
		var retry []pending
		for _, batch := range batches(todo) {
			out, err := p.api.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entriesOf(batch)})
			if err != nil {
				lastErr = err
				if ctx.Err() != nil || !retryableCall(err) {
					// Give up on this batch and everything not yet sent.
					code := errorCode(err)
					rest := append(retry, todo[indexAfter(todo, batch):]...)
					rest = append(rest, batch...)
					for _, pe := range rest {
						failed = append(failed, NotSent{ID: pe.id, DetailType: pe.detailType, Code: code, Message: err.Error()})
					}
					if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
						err = errors.Join(cerr, err)
					}
					return &PublishError{NotSent: failed, Attempts: attempt, Err: err}
				}
				retry = append(retry, batch...)
				continue
			}
			for i, pe := range batch {
				if i >= len(out.Entries) {
					// A short answer should not happen; resend what it left out.
					retry = append(retry, pe)
					continue
				}
				r := out.Entries[i]
				code := aws.ToString(r.ErrorCode)
				if code == "" && aws.ToString(r.EventId) != "" {
					continue // accepted
				}
				if code == "" || retryableEntry(code) {
					retry = append(retry, pe)
					continue
				}
				failed = append(failed, NotSent{ID: pe.id, DetailType: pe.detailType, Code: code, Message: aws.ToString(r.ErrorMessage)})
			}
		}
		todo = retry
		if len(todo) == 0 || attempt >= maxAttempts {
			break
		}
		if err := p.sleep(ctx, p.Retry.Delay(attempt)); err != nil {
			lastErr = err
			break
		}
	}
	for _, pe := range todo {
		failed = append(failed, NotSent{ID: pe.id, DetailType: pe.detailType, Code: "NotSent", Message: "retries exhausted"})
	}
	if len(failed) > 0 {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(lastErr, cerr) {
			lastErr = errors.Join(cerr, lastErr)
		}
		return &PublishError{NotSent: failed, Attempts: min(attempt, maxAttempts), Err: lastErr}
	}
	return nil
}

// indexAfter is the index in todo just past the last element of batch
// (batches are consecutive runs of todo).
func indexAfter(todo, batch []pending) int {
	if len(batch) == 0 {
		return 0
	}
	last := &batch[len(batch)-1]
	for i := range todo {
		if &todo[i] == last {
			return i + 1
		}
	}
	return len(todo)
}

// entry encodes one event as a PutEvents entry.
func (p *Publisher) entry(ev Event) (pending, error) {
	if ev == nil {
		return pending{}, errors.New("eventbridge: nil event")
	}
	id, dt := ev.ID(), ev.DetailType()
	if v, ok := ev.(validator); ok {
		if err := v.Validate(); err != nil {
			return pending{}, fmt.Errorf("eventbridge: invalid %s event %s: %w", dt, id, err)
		}
	}
	if id == "" || dt == "" {
		return pending{}, fmt.Errorf("eventbridge: event %T has no id or detail type", ev)
	}
	detail, err := json.Marshal(ev)
	if err != nil {
		return pending{}, fmt.Errorf("eventbridge: encode %s event %s: %w", dt, id, err)
	}
	if len(detail) == 0 || detail[0] != '{' {
		return pending{}, fmt.Errorf("eventbridge: %s event %s: detail is not a JSON object", dt, id)
	}
	e := types.PutEventsRequestEntry{
		Source:     aws.String(p.source),
		DetailType: aws.String(dt),
		Detail:     aws.String(string(detail)),
	}
	if p.bus != "" {
		e.EventBusName = aws.String(p.bus)
	}
	size := EntrySize(e)
	if size >= MaxCallBytes {
		return pending{}, fmt.Errorf("eventbridge: %s event %s is %d bytes, over the %d-byte limit of an entry", dt, id, size, MaxCallBytes)
	}
	return pending{id: id, detailType: dt, entry: e, size: size}, nil
}

// EntrySize is the size EventBridge counts for a PutEvents entry: the UTF-8
// bytes of Source, DetailType, Detail and each Resource, plus 14 if Time is
// set.
func EntrySize(e types.PutEventsRequestEntry) int {
	n := len(aws.ToString(e.Source)) + len(aws.ToString(e.DetailType)) + len(aws.ToString(e.Detail))
	for _, r := range e.Resources {
		n += len(r)
	}
	if e.Time != nil {
		n += 14
	}
	return n
}

// batches splits entries, in order, into calls of at most MaxEntriesPerCall
// entries whose summed size is below MaxCallBytes.
func batches(todo []pending) [][]pending {
	var (
		out  [][]pending
		from int
		size int
	)
	for i, pe := range todo {
		if i > from && (i-from == MaxEntriesPerCall || size+pe.size >= MaxCallBytes) {
			out = append(out, todo[from:i:i])
			from, size = i, 0
		}
		size += pe.size
	}
	if from < len(todo) {
		out = append(out, todo[from:len(todo):len(todo)])
	}
	return out
}

func entriesOf(batch []pending) []types.PutEventsRequestEntry {
	es := make([]types.PutEventsRequestEntry, len(batch))
	for i, pe := range batch {
		es[i] = pe.entry
	}
	return es
}

// retryableEntry reports whether a per-entry ErrorCode is worth resending:
// EventBridge documents InternalFailure and ThrottlingException as the
// retryable ones.
func retryableEntry(code string) bool {
	switch code {
	case "InternalFailure", "InternalException", "ThrottlingException", "ServiceUnavailable":
		return true
	}
	return false
}

// retryableCall reports whether a failed PutEvents call is worth repeating:
// throttling, 5xx and connection errors, as the SDK classifies them.
func retryableCall(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary {
		return true
	}
	if retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary {
		return true
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) && status.HTTPStatusCode() >= 500 {
		return true
	}
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorFault() == smithy.FaultServer
}

func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
