package batch

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil/s3test"
	"github.com/imgbatch/imgbatch/s3fault"
)

// scripted injects the faults of script, in order, into the requests of
// kind that match, and forwards every other request untouched.
type scripted struct {
	mu      sync.Mutex
	kind    s3fault.Kind
	script  []s3fault.Fault
	seen    int
	gets    []s3fault.Fault
	getSeen int
}

func (s *scripted) before(r *s3fault.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.Fault = s3fault.None
	if r.Kind == s3fault.KindGet && s.kind != s3fault.KindGet && s.getSeen < len(s.gets) {
		r.Fault = s.gets[s.getSeen]
		s.getSeen++
		return
	}
	if r.Kind != s.kind {
		return
	}
	if s.seen < len(s.script) {
		r.Fault = s.script[s.seen]
	}
	s.seen++
}

// alsoGet scripts the GETs as well, while set scripts another kind.
func (s *scripted) alsoGet(script ...s3fault.Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets, s.getSeen = script, 0
}

func (s *scripted) set(kind s3fault.Kind, script ...s3fault.Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kind, s.script, s.seen = kind, script, 0
}

func (s *scripted) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen
}

// faultyStore is a store on gofakes3 behind the fault proxy, with the real
// SDK client and its standard retryer.
func faultyStore(t *testing.T) (*Store, *scripted) {
	t.Helper()
	sc := &scripted{}
	px, err := s3fault.Start(s3fault.Config{Target: s3test.Start(t, "work").URL, Before: sc.before})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = px.Close() })
	return &Store{S3: s3test.NewClient(px.URL), Bucket: "work"}, sc
}

// A conditional write whose answer is lost lands; the SDK's retry then fails
// its precondition against that very write. Put must see its own bytes and
// succeed, and still report a real loss as ErrConflict.
func TestPutAmbiguousOutcomes(t *testing.T) {
	ctx := context.Background()
	s, sc := faultyStore(t)

	sc.set(s3fault.KindPut, s3fault.LostResponse)
	tag, err := s.Put(ctx, "done/1.json", []byte(`{"owner":"a#1"}`), "application/json", Cond{IfNoneMatch: true})
	if err != nil {
		t.Fatalf("create whose answer was lost: %v, want success", err)
	}
	if sc.count() < 2 {
		t.Fatalf("%d PUTs: the SDK did not retry the lost answer, the test proves nothing", sc.count())
	}
	b, cur, err := s.Get(ctx, "done/1.json")
	if err != nil || cur != tag || string(b) != `{"owner":"a#1"}` {
		t.Fatalf("object %q etag %q (%v), Put said etag %q", b, cur, err, tag)
	}

	// The answer is lost and the read-back fails too: not a lost race
	// (a lease holder must not give its lease up over it), an error.
	sc.set(s3fault.KindPut, s3fault.LostResponse)
	sc.alsoGet(s3fault.InternalError, s3fault.InternalError, s3fault.InternalError, s3fault.InternalError)
	_, err = s.Put(ctx, "done/2.json", []byte(`{"owner":"a#1"}`), "application/json", Cond{IfNoneMatch: true})
	if err == nil || errors.Is(err, ErrConflict) {
		t.Fatalf("lost answer, failed read-back: %v, want an error that is not ErrConflict", err)
	}
	sc.alsoGet()

	// Another writer's object: a real lost race.
	sc.set(s3fault.KindPut)
	if _, err := s.Put(ctx, "done/1.json", []byte(`{"owner":"b#1"}`), "application/json", Cond{IfNoneMatch: true}); !errors.Is(err, ErrConflict) {
		t.Fatalf("create over another's object: %v, want ErrConflict", err)
	}

	// The same for a replace (If-Match), e.g. an outbox update.
	sc.set(s3fault.KindPut, s3fault.LostResponse)
	tag2, err := s.Put(ctx, "done/1.json", []byte(`{"owner":"a#1","eventSent":true}`), "application/json", Cond{IfMatch: tag})
	if err != nil {
		t.Fatalf("replace whose answer was lost: %v, want success", err)
	}
	if tag2 == tag {
		t.Fatalf("replace returned the old etag")
	}
	sc.set(s3fault.KindPut)
	if _, err := s.Put(ctx, "done/1.json", []byte(`{"owner":"c#1"}`), "application/json", Cond{IfMatch: tag}); !errors.Is(err, ErrConflict) {
		t.Fatalf("replace of a stale version: %v, want ErrConflict", err)
	}
}

// 409 ConditionalRequestConflict means "retry", not "someone else won".
func TestPutRetriesConditionalRequestConflict(t *testing.T) {
	ctx := context.Background()
	s, sc := faultyStore(t)
	sc.set(s3fault.KindPut, s3fault.Conflict, s3fault.Conflict)
	if _, err := s.Put(ctx, imgbatch.Layout{RunID: "r"}.Claim(3), []byte(`{"owner":"a#1"}`), "application/json", Cond{IfNoneMatch: true}); err != nil {
		t.Fatalf("create after two 409s: %v, want success", err)
	}
	if n := sc.count(); n < 3 {
		t.Fatalf("%d PUTs, want the 409s retried", n)
	}
	// Past conflictTries the 409 is an error, but not a lost precondition.
	script := make([]s3fault.Fault, 20)
	for i := range script {
		script[i] = s3fault.Conflict
	}
	sc.set(s3fault.KindPut, script...)
	_, err := s.Put(ctx, imgbatch.Layout{RunID: "r"}.Claim(4), []byte(`{}`), "application/json", Cond{IfNoneMatch: true})
	if err == nil || errors.Is(err, ErrConflict) || !IsRetryConflict(err) {
		t.Fatalf("endless 409s: %v, want a retryable conflict error, not ErrConflict", err)
	}
}

// A body that breaks off after the headers is read again.
func TestGetRereadsCutBodies(t *testing.T) {
	ctx := context.Background()
	s, sc := faultyStore(t)
	body := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	if _, err := s.Put(ctx, "results/1-e1.jsonl", body, "application/x-ndjson", Cond{}); err != nil {
		t.Fatal(err)
	}
	sc.set(s3fault.KindGet, s3fault.Truncate, s3fault.Truncate)
	b, _, err := s.Get(ctx, "results/1-e1.jsonl")
	if err != nil || !bytes.Equal(b, body) {
		t.Fatalf("get after two cut bodies: %d bytes, %v; want all %d", len(b), err, len(body))
	}
	script := make([]s3fault.Fault, 3*bodyTries) // each try may be retried by the SDK too
	for i := range script {
		script[i] = s3fault.Truncate
	}
	sc.set(s3fault.KindGet, script...)
	if b, _, err := s.Get(ctx, "results/1-e1.jsonl"); err == nil {
		t.Fatalf("every body cut: got %d bytes and no error", len(b))
	}
}
