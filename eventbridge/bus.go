package eventbridge

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"quamina.net/go/quamina"
)

// Target is where a rule sends matching events. Invoke receives the target
// input: the whole event (as JSON), or what Input, InputPath or
// InputPathsMap+InputTemplate make of it (see the input transformation notes
// in transform.go; only one of Input, InputPath and InputTemplate may be
// set).
type Target struct {
	ID            string
	InputPathsMap map[string]string // variable name → JSON path ($.detail.runId)
	InputTemplate string            // with <name> placeholders
	InputPath     string            // JSON path of the part of the event to send
	Input         string            // constant JSON sent instead of the event
	Invoke        func(ctx context.Context, input []byte) error
	// RetryAttempts is how many times a failed Invoke is retried (the
	// target's RetryPolicy.MaximumRetryAttempts). 0 takes the bus default;
	// < 0 means no retry.
	RetryAttempts int
	// MaxEventAge stops retrying once the event is this old
	// (RetryPolicy.MaximumEventAgeInSeconds). 0 takes the bus default.
	MaxEventAge time.Duration
}

// Rule routes the events of one bus that match Pattern (EventBridge event
// pattern JSON, matched with quamina) to Targets.
type Rule struct {
	Name     string
	EventBus string // name or ARN; "" is the default bus, as in EventBridge
	Pattern  string
	Targets  []Target
}

// Envelope is an event as EventBridge delivers it to targets.
type Envelope struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       time.Time       `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`

	// EventBus is the bus the event was put on (not part of the JSON).
	EventBus string `json:"-"`
}

// envelopeTime is EventBridge's time format: UTC, whole seconds.
const envelopeTime = "2006-01-02T15:04:05Z"

type envelopeJSON struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// MarshalJSON writes the envelope exactly as EventBridge does: fixed key
// order, time as 2006-01-02T15:04:05Z, resources always an array.
func (e Envelope) MarshalJSON() ([]byte, error) {
	res := e.Resources
	if res == nil {
		res = []string{}
	}
	detail := e.Detail
	if len(detail) == 0 {
		detail = json.RawMessage("{}")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(envelopeJSON{
		Version: e.Version, ID: e.ID, DetailType: e.DetailType, Source: e.Source, Account: e.Account,
		Time: e.Time.UTC().Format(envelopeTime), Region: e.Region, Resources: res, Detail: detail,
	})
	return bytes.TrimRight(buf.Bytes(), "\n"), err
}

// UnmarshalJSON reads an event as EventBridge delivers it.
func (e *Envelope) UnmarshalJSON(b []byte) error {
	var j envelopeJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	t, err := time.Parse(time.RFC3339, j.Time)
	if err != nil && j.Time != "" {
		return fmt.Errorf("envelope time: %w", err)
	}
	*e = Envelope{Version: j.Version, ID: j.ID, DetailType: j.DetailType, Source: j.Source, Account: j.Account,
		Time: t, Region: j.Region, Resources: j.Resources, Detail: j.Detail, EventBus: e.EventBus}
	return nil
}

// Decode returns the typed imgbatch detail of the event.
func (e Envelope) Decode() (Event, error) { return DecodeDetail(e.DetailType, e.Detail) }

// Entry is one PutEvents request entry as the bus received it.
type Entry struct {
	Source       string
	DetailType   string
	Detail       string
	EventBusName string
	Resources    []string
	Time         time.Time // zero when the entry had none
	TraceHeader  string
}

// DeadLetter is an event a target did not take, after its retries.
type DeadLetter struct {
	Rule     string
	Target   string
	Event    Envelope
	Input    []byte // the transformed input, when the transformation worked
	Err      error
	Attempts int // Invoke calls made (0: the input transformation failed)
}

// BusConfig configures a Bus; zero fields take the defaults.
type BusConfig struct {
	Region  string // "us-east-1"
	Account string // "000000000000"
	// Default retry policy of targets (Target.RetryAttempts and MaxEventAge
	// of 0): 3 retries, 24 h.
	RetryAttempts int
	MaxEventAge   time.Duration
	// Delays between delivery retries: exponential from RetryBaseDelay
	// (100 ms) up to RetryMaxDelay (5 s), with jitter.
	RetryBaseDelay time.Duration
	RetryMaxDelay  time.Duration
	// MaxRequestBytes bounds the summed entry size of one PutEvents call
	// (MaxCallBytes).
	MaxRequestBytes int
	// MaxEvents bounds how many accepted events Events keeps (oldest
	// dropped); 0 keeps all.
	MaxEvents int
	// OnDeadLetter, if set, is called for each dead letter (on the delivery
	// goroutine).
	OnDeadLetter func(DeadLetter)
	Logger       *slog.Logger // default: discard
}

// DefaultAccount is the account id of events on the local bus.
const DefaultAccount = "000000000000"

// DefaultRegion is the region of events on the local bus.
const DefaultRegion = "us-east-1"

// DefaultBus is the name of the default event bus.
const DefaultBus = "default"

func (c BusConfig) withDefaults() BusConfig {
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if c.Account == "" {
		c.Account = DefaultAccount
	}
	if c.RetryAttempts == 0 {
		c.RetryAttempts = 3
	}
	if c.MaxEventAge <= 0 {
		c.MaxEventAge = 24 * time.Hour
	}
	if c.RetryBaseDelay <= 0 {
		c.RetryBaseDelay = 100 * time.Millisecond
	}
	if c.RetryMaxDelay <= 0 {
		c.RetryMaxDelay = 5 * time.Second
	}
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = MaxCallBytes
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Bus is a local stand-in for Amazon EventBridge: an http.Handler speaking
// the EventBridge JSON 1.1 protocol (AWSEvents.PutEvents), with rules
// matched by quamina, input transformation, asynchronous delivery with
// retries, and dead letters. Point the real SDK client at it (BaseEndpoint or
// AWS_ENDPOINT_URL_EVENTBRIDGE). A Bus is safe for concurrent use; the zero
// value is a bus with the default configuration.
type Bus struct {
	once sync.Once
	cfg  BusConfig

	mu       sync.Mutex
	idle     *sync.Cond // signalled when inflight drops to 0
	rules    []*rule
	subs     map[*subscriber]struct{}
	events   []Envelope
	dead     []DeadLetter
	failFn   func(Entry) bool
	failN    int
	failSeq  int
	inflight int
	closed   bool
}

// NewBus returns a bus with cfg (zero fields take the defaults).
func NewBus(cfg BusConfig) *Bus {
	b := &Bus{cfg: cfg}
	b.init()
	return b
}

func (b *Bus) init() {
	b.once.Do(func() {
		b.cfg = b.cfg.withDefaults()
		b.idle = sync.NewCond(&b.mu)
		b.subs = make(map[*subscriber]struct{})
	})
}

// rule is an added Rule, compiled.
type rule struct {
	Rule
	bus     string
	arn     string
	m       *matcher
	targets []compiledTarget
}

type compiledTarget struct {
	Target
	tr *transformer
}

// matcher is one quamina instance; MatchesForEvent is not safe for
// concurrent use on one instance, hence the lock.
type matcher struct {
	mu sync.Mutex
	q  *quamina.Quamina
}

func newMatcher(pattern string) (*matcher, error) {
	q, err := quamina.New()
	if err != nil {
		return nil, err
	}
	if err := q.AddPattern(1, pattern); err != nil {
		return nil, fmt.Errorf("invalid event pattern %s: %w", pattern, err)
	}
	return &matcher{q: q}, nil
}

func (m *matcher) match(event []byte) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	xs, err := m.q.MatchesForEvent(event)
	return err == nil && len(xs) > 0
}

// busName turns a bus name or ARN into a name; "" is the default bus.
func busName(s string) string {
	if i := strings.LastIndex(s, ":event-bus/"); strings.HasPrefix(s, "arn:") && i >= 0 {
		s = s[i+len(":event-bus/"):]
	}
	if s == "" {
		return DefaultBus
	}
	return s
}

// AddRule adds r, or replaces the rule of the same name on the same bus
// (PutRule + PutTargets). The pattern and every target's input configuration
// are checked here, as EventBridge does.
func (b *Bus) AddRule(r Rule) error {
	b.init()
	if r.Name == "" {
		return errors.New("eventbridge: rule without a name")
	}
	m, err := newMatcher(r.Pattern)
	if err != nil {
		return fmt.Errorf("eventbridge: rule %s: %w", r.Name, err)
	}
	cr := &rule{Rule: r, bus: busName(r.EventBus), m: m}
	if cr.bus == DefaultBus {
		cr.arn = fmt.Sprintf("arn:aws:events:%s:%s:rule/%s", b.cfg.Region, b.cfg.Account, r.Name)
	} else {
		cr.arn = fmt.Sprintf("arn:aws:events:%s:%s:rule/%s/%s", b.cfg.Region, b.cfg.Account, cr.bus, r.Name)
	}
	seen := map[string]bool{}
	for _, t := range r.Targets {
		if t.ID == "" || seen[t.ID] {
			return fmt.Errorf("eventbridge: rule %s: target id %q is empty or repeated", r.Name, t.ID)
		}
		seen[t.ID] = true
		if t.Invoke == nil {
			return fmt.Errorf("eventbridge: rule %s target %s: no Invoke", r.Name, t.ID)
		}
		tr, err := compileTarget(t)
		if err != nil {
			return fmt.Errorf("eventbridge: rule %s target %s: %w", r.Name, t.ID, err)
		}
		cr.targets = append(cr.targets, compiledTarget{Target: t, tr: tr})
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, old := range b.rules {
		if old.Name == r.Name && old.bus == cr.bus {
			b.rules[i] = cr
			return nil
		}
	}
	b.rules = append(b.rules, cr)
	return nil
}

// RemoveRule removes the rule name of bus ("" is the default bus) and
// reports whether there was one.
func (b *Bus) RemoveRule(bus, name string) bool {
	b.init()
	bus = busName(bus)
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, r := range b.rules {
		if r.Name == name && r.bus == bus {
			b.rules = append(b.rules[:i], b.rules[i+1:]...)
			return true
		}
	}
	return false
}

// Events returns every event the bus accepted, oldest first.
func (b *Bus) Events() []Envelope {
	b.init()
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Envelope(nil), b.events...)
}

// DeadLetters returns the deliveries that failed for good.
func (b *Bus) DeadLetters() []DeadLetter {
	b.init()
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]DeadLetter(nil), b.dead...)
}

// FailEntries makes every PutEvents entry for which fail returns true fail
// with ErrorCode InternalFailure (a partial failure; the entry is not
// accepted). nil stops it.
func (b *Bus) FailEntries(fail func(Entry) bool) {
	b.init()
	b.mu.Lock()
	b.failFn = fail
	b.mu.Unlock()
}

// FailCalls makes the next n PutEvents calls fail as a whole, alternately
// with HTTP 500 InternalException and HTTP 400 ThrottlingException (both
// retryable), starting with 500.
func (b *Bus) FailCalls(n int) {
	b.init()
	b.mu.Lock()
	b.failN = max(n, 0)
	b.failSeq = 0
	b.mu.Unlock()
}

// Close stops the bus once in-flight deliveries are done (deliveries can
// still put events while it waits; those are delivered too), then refuses
// further PutEvents calls and closes every subscription.
func (b *Bus) Close() {
	b.init()
	b.mu.Lock()
	for b.inflight > 0 {
		b.idle.Wait()
	}
	b.closed = true
	subs := b.subs
	b.subs = map[*subscriber]struct{}{}
	b.mu.Unlock()
	for s := range subs {
		s.stop()
	}
}

// acquire counts one piece of work in flight; false once closed.
func (b *Bus) acquire(n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.inflight += n
	return true
}

func (b *Bus) release() {
	b.mu.Lock()
	b.inflight--
	if b.inflight == 0 {
		b.idle.Broadcast()
	}
	b.mu.Unlock()
}

// ---- HTTP: the EventBridge JSON 1.1 protocol -------------------------------

const (
	amzJSON11      = "application/x-amz-json-1.1"
	targetPrefix   = "AWSEvents."
	opPutEvents    = targetPrefix + "PutEvents"
	maxRequestBody = 8 << 20 // bytes of JSON, escapes included
)

// ServeHTTP implements the EventBridge JSON protocol: POST /, X-Amz-Target
// AWSEvents.<Operation>, Content-Type application/x-amz-json-1.1. Only
// PutEvents is implemented; other operations answer 400
// UnknownOperationException.
func (b *Bus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.init()
	w.Header().Set("X-Amzn-Requestid", newUUID())
	target := r.Header.Get("X-Amz-Target")
	if r.Method != http.MethodPost {
		writeAWSError(w, http.StatusBadRequest, "UnknownOperationException", "method "+r.Method+" is not supported; EventBridge takes POST")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != amzJSON11 && mt != "application/x-amz-json-1.0" {
		writeAWSError(w, http.StatusBadRequest, "SerializationException", "Content-Type must be "+amzJSON11)
		return
	}
	switch target {
	case opPutEvents:
		b.putEvents(w, r)
	default:
		op := strings.TrimPrefix(target, targetPrefix)
		if op == "" {
			op = "(no X-Amz-Target)"
		}
		writeAWSError(w, http.StatusBadRequest, "UnknownOperationException", "operation "+op+" is not supported by the local event bus")
	}
}

func writeAWSError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", amzJSON11)
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{code, msg})
}

func writeAWSJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", amzJSON11)
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(v)
}

// wire shapes of PutEvents (member names as the SDK serializes them).
type putEventsRequest struct {
	Entries    []wireEntry `json:"Entries"`
	EndpointID *string     `json:"EndpointId"`
}

type wireEntry struct {
	Source       *string         `json:"Source"`
	DetailType   *string         `json:"DetailType"`
	Detail       *string         `json:"Detail"`
	EventBusName *string         `json:"EventBusName"`
	Resources    []string        `json:"Resources"`
	Time         json.RawMessage `json:"Time"` // epoch seconds (number); strings tolerated
	TraceHeader  *string         `json:"TraceHeader"`
}

type resultEntry struct {
	EventID      string `json:"EventId,omitempty"`
	ErrorCode    string `json:"ErrorCode,omitempty"`
	ErrorMessage string `json:"ErrorMessage,omitempty"`
}

type putEventsResponse struct {
	Entries          []resultEntry `json:"Entries"`
	FailedEntryCount int           `json:"FailedEntryCount"`
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// parseEventTime reads the Time member: epoch seconds (what the SDKs send),
// or an RFC 3339 / numeric string.
func parseEventTime(raw json.RawMessage) (time.Time, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, true
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err == nil {
		return epoch(f), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return time.Time{}, false
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return epoch(f), true
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

func epoch(f float64) time.Time {
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

func (b *Bus) putEvents(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		writeAWSError(w, http.StatusBadRequest, "SerializationException", "cannot read request: "+err.Error())
		return
	}
	if len(body) > maxRequestBody {
		writeAWSError(w, http.StatusBadRequest, "ValidationException", "Total size of the entries in the request is over the limit.")
		return
	}

	b.mu.Lock()
	closed := b.closed
	failCall := ""
	if !closed && b.failN > 0 {
		b.failN--
		if b.failSeq%2 == 0 {
			failCall = "InternalException"
		} else {
			failCall = "ThrottlingException"
		}
		b.failSeq++
	}
	failFn := b.failFn
	b.mu.Unlock()
	switch {
	case closed:
		writeAWSError(w, http.StatusInternalServerError, "InternalException", "the local event bus is closed")
		return
	case failCall == "InternalException":
		writeAWSError(w, http.StatusInternalServerError, failCall, "Internal failure (injected by the local bus)")
		return
	case failCall != "":
		writeAWSError(w, http.StatusBadRequest, failCall, "Rate exceeded (injected by the local bus)")
		return
	}

	var req putEventsRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeAWSError(w, http.StatusBadRequest, "SerializationException", "cannot decode request: "+err.Error())
		return
	}
	switch n := len(req.Entries); {
	case req.Entries == nil:
		writeAWSError(w, http.StatusBadRequest, "ValidationException", "1 validation error detected: Value null at 'entries' failed to satisfy constraint: Member must not be null")
		return
	case n < 1:
		writeAWSError(w, http.StatusBadRequest, "ValidationException", "1 validation error detected: Value '[]' at 'entries' failed to satisfy constraint: Member must have length greater than or equal to 1")
		return
	case n > MaxEntriesPerCall:
		writeAWSError(w, http.StatusBadRequest, "ValidationException", fmt.Sprintf("1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length less than or equal to %d (got %d)", MaxEntriesPerCall, n))
		return
	}
	total := 0
	for _, e := range req.Entries {
		total += len(deref(e.Source)) + len(deref(e.DetailType)) + len(deref(e.Detail))
		for _, r := range e.Resources {
			total += len(r)
		}
		if len(e.Time) > 0 && string(e.Time) != "null" {
			total += 14
		}
	}
	if total >= b.cfg.MaxRequestBytes {
		writeAWSError(w, http.StatusBadRequest, "ValidationException", "Total size of the entries in the request is over the limit.")
		return
	}

	now := time.Now().UTC()
	resp := putEventsResponse{Entries: make([]resultEntry, len(req.Entries))}
	var accepted []Envelope
	for i, we := range req.Entries {
		res, env := b.checkEntry(we, failFn, now)
		if res.ErrorCode != "" {
			resp.FailedEntryCount++
		} else {
			accepted = append(accepted, env)
		}
		resp.Entries[i] = res
	}
	if !b.route(accepted) {
		writeAWSError(w, http.StatusInternalServerError, "InternalException", "the local event bus is closed")
		return
	}
	writeAWSJSON(w, resp)
}

// checkEntry validates one entry the way EventBridge does and builds its
// envelope.
func (b *Bus) checkEntry(we wireEntry, failFn func(Entry) bool, now time.Time) (resultEntry, Envelope) {
	invalid := func(field string) resultEntry {
		return resultEntry{ErrorCode: "InvalidArgument", ErrorMessage: "Parameter " + field + " is not valid. Reason: " + field + " is a required argument."}
	}
	switch {
	case deref(we.Source) == "":
		return invalid("Source"), Envelope{}
	case deref(we.DetailType) == "":
		return invalid("DetailType"), Envelope{}
	case deref(we.Detail) == "":
		return invalid("Detail"), Envelope{}
	}
	detail := []byte(*we.Detail)
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(detail, &obj); err != nil || obj == nil {
		return resultEntry{ErrorCode: "MalformedDetail", ErrorMessage: "Detail is malformed."}, Envelope{}
	}
	t, ok := parseEventTime(we.Time)
	if !ok {
		return resultEntry{ErrorCode: "InvalidArgument", ErrorMessage: "Parameter Time is not valid."}, Envelope{}
	}
	entry := Entry{Source: *we.Source, DetailType: *we.DetailType, Detail: *we.Detail, EventBusName: deref(we.EventBusName),
		Resources: we.Resources, Time: t, TraceHeader: deref(we.TraceHeader)}
	if failFn != nil && failFn(entry) {
		return resultEntry{ErrorCode: "InternalFailure", ErrorMessage: "Internal failure (injected by the local bus)"}, Envelope{}
	}
	if t.IsZero() {
		t = now
	}
	var compact bytes.Buffer
	_ = json.Compact(&compact, detail)
	res := we.Resources
	if res == nil {
		res = []string{}
	}
	env := Envelope{
		Version: "0", ID: newUUID(), DetailType: entry.DetailType, Source: entry.Source, Account: b.cfg.Account,
		Time: t.UTC().Truncate(time.Second), Region: b.cfg.Region, Resources: res, Detail: compact.Bytes(),
		EventBus: busName(entry.EventBusName),
	}
	return resultEntry{EventID: env.ID}, env
}

// ---- routing and delivery ------------------------------------------------

// route records accepted events, feeds subscriptions and starts the
// deliveries of matching rules. false if the bus is closed.
func (b *Bus) route(envs []Envelope) bool {
	if !b.acquire(1) { // holds Close off while deliveries are started
		return false
	}
	defer b.release()
	if len(envs) == 0 {
		return true
	}
	b.mu.Lock()
	rules := append([]*rule(nil), b.rules...)
	subs := make([]*subscriber, 0, len(b.subs))
	for s := range b.subs {
		subs = append(subs, s)
	}
	b.events = append(b.events, envs...)
	if keep := b.cfg.MaxEvents; keep > 0 && len(b.events) > keep {
		b.events = append([]Envelope(nil), b.events[len(b.events)-keep:]...)
	}
	b.mu.Unlock()

	ingested := time.Now().UTC()
	for _, env := range envs {
		raw, err := json.Marshal(env)
		if err != nil {
			b.cfg.Logger.Error("eventbridge: encode event", "id", env.ID, "err", err)
			continue
		}
		for _, s := range subs {
			if s.m.match(raw) {
				s.push(env)
			}
		}
		for _, r := range rules {
			if r.bus != env.EventBus || !r.m.match(raw) {
				continue
			}
			b.cfg.Logger.Debug("eventbridge: rule matched", "rule", r.Name, "bus", r.bus, "detailType", env.DetailType, "id", env.ID)
			for _, t := range r.targets {
				b.acquire(1) // cannot fail: we hold a token
				go b.deliver(r, t, env, raw, ingested)
			}
		}
	}
	return true
}

// deliver hands one event to one target, retrying with backoff until the
// target's retry attempts or maximum event age run out, then dead-letters it.
func (b *Bus) deliver(r *rule, t compiledTarget, env Envelope, raw []byte, ingested time.Time) {
	defer b.release()
	input, err := t.tr.apply(eventContext{raw: raw, ruleName: r.Name, ruleARN: r.arn, ingested: ingested.Format(envelopeTime)})
	if err != nil {
		b.deadLetter(DeadLetter{Rule: r.Name, Target: t.ID, Event: env, Err: fmt.Errorf("input transformation: %w", err)})
		return
	}
	retries := t.RetryAttempts
	if retries == 0 {
		retries = b.cfg.RetryAttempts
	}
	retries = max(retries, 0)
	maxAge := t.MaxEventAge
	if maxAge <= 0 {
		maxAge = b.cfg.MaxEventAge
	}
	policy := RetryPolicy{BaseDelay: b.cfg.RetryBaseDelay, MaxDelay: b.cfg.RetryMaxDelay}
	for attempt := 1; ; attempt++ {
		err = invoke(t.Invoke, input)
		if err == nil {
			return
		}
		b.cfg.Logger.Warn("eventbridge: target failed", "rule", r.Name, "target", t.ID, "id", env.ID, "attempt", attempt, "err", err)
		d := policy.delay(attempt)
		if attempt > retries || time.Since(ingested)+d > maxAge {
			b.deadLetter(DeadLetter{Rule: r.Name, Target: t.ID, Event: env, Input: input, Err: err, Attempts: attempt})
			return
		}
		time.Sleep(d)
	}
}

// invoke calls fn, turning a panic into an error.
func invoke(fn func(context.Context, []byte) error, input []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("target panicked: %v", p)
		}
	}()
	return fn(context.Background(), append([]byte(nil), input...))
}

func (b *Bus) deadLetter(dl DeadLetter) {
	b.cfg.Logger.Error("eventbridge: dead letter", "rule", dl.Rule, "target", dl.Target, "id", dl.Event.ID,
		"detailType", dl.Event.DetailType, "attempts", dl.Attempts, "err", dl.Err)
	b.mu.Lock()
	b.dead = append(b.dead, dl)
	b.mu.Unlock()
	if b.cfg.OnDeadLetter != nil {
		b.cfg.OnDeadLetter(dl)
	}
}

// ---- subscriptions ---------------------------------------------------------

// subscriber feeds one Subscribe channel from an unbounded queue, so a slow
// reader never stalls the bus.
type subscriber struct {
	m      *matcher
	mu     sync.Mutex
	queue  []Envelope
	wake   chan struct{}
	done   chan struct{}
	out    chan Envelope
	closer sync.Once
}

func (s *subscriber) push(e Envelope) {
	s.mu.Lock()
	s.queue = append(s.queue, e)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *subscriber) stop() { s.closer.Do(func() { close(s.done) }) }

func (s *subscriber) run() {
	defer close(s.out)
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.mu.Unlock()
			select {
			case <-s.wake:
				continue
			case <-s.done:
				return
			}
		}
		e := s.queue[0]
		s.queue = s.queue[1:]
		s.mu.Unlock()
		select {
		case s.out <- e:
		case <-s.done:
			return
		}
	}
}

// Subscribe streams the events accepted from now on that match pattern (an
// EventBridge event pattern, on any bus), e.g. Pattern("", runID, "Run
// Completed", "Run Failed"). cancel ends the subscription and closes the
// channel; Close closes it too. An invalid pattern is a programming error
// and panics.
func (b *Bus) Subscribe(pattern string) (<-chan Envelope, func()) {
	b.init()
	m, err := newMatcher(pattern)
	if err != nil {
		panic("eventbridge: Subscribe: " + err.Error())
	}
	s := &subscriber{m: m, wake: make(chan struct{}, 1), done: make(chan struct{}), out: make(chan Envelope)}
	go s.run()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		s.stop()
		return s.out, func() {}
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s.out, func() {
		b.mu.Lock()
		delete(b.subs, s)
		b.mu.Unlock()
		s.stop()
	}
}

// WaitFor returns the first event matching pattern, including one accepted
// before the call, or ctx's error.
func (b *Bus) WaitFor(ctx context.Context, pattern string) (Envelope, error) {
	ch, cancel := b.Subscribe(pattern) // subscribe first: nothing slips between
	defer cancel()
	m, _ := newMatcher(pattern)
	for _, e := range b.Events() {
		if raw, err := json.Marshal(e); err == nil && m.match(raw) {
			return e, nil
		}
	}
	select {
	case e, ok := <-ch:
		if !ok {
			return Envelope{}, errors.New("eventbridge: bus closed")
		}
		return e, nil
	case <-ctx.Done():
		return Envelope{}, ctx.Err()
	}
}

// newUUID returns a random (version 4) UUID, as EventBridge event ids are.
func newUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return string(s[:])
}
