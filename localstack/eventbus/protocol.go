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
	case n > eventbridge.MaxEntriesPerCall:
		writeAWSError(w, http.StatusBadRequest, "ValidationException", fmt.Sprintf("1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length less than or equal to %d (got %d)", eventbridge.MaxEntriesPerCall, n))
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
	var accepted []eventbridge.Envelope
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
