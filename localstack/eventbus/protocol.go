package eventbus

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/imgbatch/imgbatch/eventbridge"
)

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

// apiError is an error answer of the protocol.
type apiError struct {
	status    int
	code, msg string
}

func (e *apiError) write(w http.ResponseWriter) { writeAWSError(w, e.status, e.code, e.msg) }

func badRequest(code, msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, msg: msg}
}

var (
	errBusClosed   = &apiError{status: http.StatusInternalServerError, code: "InternalException", msg: "the local event bus is closed"}
	errOverLimit   = badRequest("ValidationException", "Total size of the entries in the request is over the limit.")
	errNullEntries = badRequest("ValidationException", "1 validation error detected: Value null at 'entries' failed to satisfy constraint: Member must not be null")
	errNoEntries   = badRequest("ValidationException", "1 validation error detected: Value '[]' at 'entries' failed to satisfy constraint: Member must have length greater than or equal to 1")
)

// putEvents answers PutEvents: the request is read, then the call may fail
// as a whole (closed bus, injected failures, invalid request), else every
// entry is checked on its own and the accepted ones are routed.
func (b *Bus) putEvents(w http.ResponseWriter, r *http.Request) {
	body, aerr := readBody(r)
	if aerr != nil {
		aerr.write(w)
		return
	}
	failFn, aerr := b.takeCallFailure()
	if aerr != nil {
		aerr.write(w)
		return
	}
	req, aerr := b.decodePutEvents(body)
	if aerr != nil {
		aerr.write(w)
		return
	}
	resp, accepted := b.checkEntries(req.Entries, failFn)
	if !b.route(accepted) {
		errBusClosed.write(w)
		return
	}
	writeAWSJSON(w, resp)
}

func readBody(r *http.Request) ([]byte, *apiError) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		return nil, badRequest("SerializationException", "cannot read request: "+err.Error())
	}
	if len(body) > maxRequestBody {
		return nil, errOverLimit
	}
	return body, nil
}

// takeCallFailure fails the call when the bus is closed or a FailCalls
// failure is due (500 and throttling alternately); otherwise it returns the
// FailEntries function in force.
func (b *Bus) takeCallFailure() (func(Entry) bool, *apiError) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return nil, errBusClosed
	case b.failN > 0:
		b.failN--
		b.failSeq++
		if b.failSeq%2 == 1 {
			return nil, &apiError{status: http.StatusInternalServerError, code: "InternalException", msg: "Internal failure (injected by the local bus)"}
		}
		return nil, badRequest("ThrottlingException", "Rate exceeded (injected by the local bus)")
	}
	return b.failFn, nil
}

// decodePutEvents decodes the request and checks the entry count and the
// summed entry size, as EventBridge does before looking at any entry.
func (b *Bus) decodePutEvents(body []byte) (putEventsRequest, *apiError) {
	var req putEventsRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return req, badRequest("SerializationException", "cannot decode request: "+err.Error())
	}
	switch n := len(req.Entries); {
	case req.Entries == nil:
		return req, errNullEntries
	case n < 1:
		return req, errNoEntries
	case n > eventbridge.MaxEntriesPerCall:
		return req, badRequest("ValidationException", fmt.Sprintf("1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length less than or equal to %d (got %d)", eventbridge.MaxEntriesPerCall, n))
	}
	if requestSize(req.Entries) >= b.cfg.MaxRequestBytes {
		return req, errOverLimit
	}
	return req, nil
}

// requestSize is the summed entry size EventBridge limits (MaxCallBytes):
// source, detail type, detail, resources, and 14 bytes for a time.
func requestSize(entries []wireEntry) int {
	total := 0
	for _, e := range entries {
		total += len(deref(e.Source)) + len(deref(e.DetailType)) + len(deref(e.Detail))
		for _, r := range e.Resources {
			total += len(r)
		}
		if len(e.Time) > 0 && string(e.Time) != "null" {
			total += 14
		}
	}
	return total
}

// checkEntries checks each entry on its own: the response, and the
// envelopes of the accepted entries.
func (b *Bus) checkEntries(entries []wireEntry, failFn func(Entry) bool) (putEventsResponse, []eventbridge.Envelope) {
	now := time.Now().UTC()
	resp := putEventsResponse{Entries: make([]resultEntry, len(entries))}
	var accepted []eventbridge.Envelope
	for i, we := range entries {
		res, env := b.checkEntry(we, failFn, now)
		if res.ErrorCode != "" {
			resp.FailedEntryCount++
		} else {
			accepted = append(accepted, env)
		}
		resp.Entries[i] = res
	}
	return resp, accepted
}

// checkEntry validates one entry the way EventBridge does and builds its
// envelope.
func (b *Bus) checkEntry(we wireEntry, failFn func(Entry) bool, now time.Time) (resultEntry, eventbridge.Envelope) {
	invalid := func(field string) resultEntry {
		return resultEntry{ErrorCode: "InvalidArgument", ErrorMessage: "Parameter " + field + " is not valid. Reason: " + field + " is a required argument."}
	}
	switch {
	case deref(we.Source) == "":
		return invalid("Source"), eventbridge.Envelope{}
	case deref(we.DetailType) == "":
		return invalid("DetailType"), eventbridge.Envelope{}
	case deref(we.Detail) == "":
		return invalid("Detail"), eventbridge.Envelope{}
	}
	detail := []byte(*we.Detail)
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(detail, &obj); err != nil || obj == nil {
		return resultEntry{ErrorCode: "MalformedDetail", ErrorMessage: "Detail is malformed."}, eventbridge.Envelope{}
	}
	t, ok := parseEventTime(we.Time)
	if !ok {
		return resultEntry{ErrorCode: "InvalidArgument", ErrorMessage: "Parameter Time is not valid."}, eventbridge.Envelope{}
	}
	entry := Entry{Source: *we.Source, DetailType: *we.DetailType, Detail: *we.Detail, EventBusName: deref(we.EventBusName),
		Resources: we.Resources, Time: t, TraceHeader: deref(we.TraceHeader)}
	if failFn != nil && failFn(entry) {
		return resultEntry{ErrorCode: "InternalFailure", ErrorMessage: "Internal failure (injected by the local bus)"}, eventbridge.Envelope{}
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
	env := eventbridge.Envelope{
		Version: "0", ID: newUUID(), DetailType: entry.DetailType, Source: entry.Source, Account: b.cfg.Account,
		Time: t.UTC().Truncate(time.Second), Region: b.cfg.Region, Resources: res, Detail: compact.Bytes(),
		EventBus: busName(entry.EventBusName),
	}
	return resultEntry{EventID: env.ID}, env
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
