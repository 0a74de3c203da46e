package eventbus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	ebsdk "github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/eventbridge"
	"github.com/imgbatch/imgbatch/internal/testutil"
	"github.com/imgbatch/imgbatch/localstack/eventbus"
	"github.com/imgbatch/imgbatch/localstack/eventbus/bustest"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func entry(source, detailType, detail string) types.PutEventsRequestEntry {
	return types.PutEventsRequestEntry{Source: aws.String(source), DetailType: aws.String(detailType), Detail: aws.String(detail)}
}

// The real SDK client talks to the bus; the rule of the CloudFormation
// template (Run Requested from imgbatch) matches exactly the right event, and
// the target gets the envelope as EventBridge builds it.
func TestSDKPutEventsRoutesByPattern(t *testing.T) {
	b := bustest.FastBus(eventbus.Config{})
	client, _ := bustest.Serve(t, b, b, 0)
	in := newInbox()
	if err := b.AddRule(eventbus.Rule{Name: "run-requested", EventBus: "imgbatch",
		Pattern: `{"source":["imgbatch"],"detail-type":["Run Requested"]}`,
		Targets: []eventbus.Target{{ID: "batch", Invoke: in.invoke}}}); err != nil {
		t.Fatal(err)
	}
	detail := `{"runId": "r-123", "items": 3}`
	bus := "arn:aws:events:us-east-1:000000000000:event-bus/imgbatch" // an ARN works like the name
	es := []types.PutEventsRequestEntry{
		entry("imgbatch", "Run Requested", detail),
		entry("imgbatch", "Run Completed", detail),
		entry("someone.else", "Run Requested", detail),
		entry("imgbatch", "Run Requested", detail), // same event, default bus: no rule there
	}
	for i := 0; i < 3; i++ {
		es[i].EventBusName = aws.String(bus)
	}
	when := time.Date(2025, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
	es[0].Time = &when
	runARN := "arn:aws:s3:::work/" + imgbatch.Layout{RunID: "r-123"}.Run()
	es[0].Resources = []string{runARN}

	out, err := client.PutEvents(bustest.Context(t), &ebsdk.PutEventsInput{Entries: es})
	if err != nil {
		t.Fatal(err)
	}
	if out.FailedEntryCount != 0 || len(out.Entries) != len(es) {
		t.Fatalf("FailedEntryCount=%d entries=%d", out.FailedEntryCount, len(out.Entries))
	}
	got := in.next(t)
	b.Close() // waits for deliveries: nothing else may arrive
	if n := in.calls(); n != 1 {
		t.Fatalf("target invoked %d times, want 1", n)
	}

	var env map[string]any
	if err := json.Unmarshal(got, &env); err != nil {
		t.Fatalf("target input is not JSON: %v\n%s", err, got)
	}
	want := map[string]any{
		"version": "0", "detail-type": "Run Requested", "source": "imgbatch", "account": "000000000000",
		"time": "2025-01-02T03:04:05Z", "region": "us-east-1",
		"resources": []any{runARN},
		"detail":    map[string]any{"runId": "r-123", "items": float64(3)},
	}
	for k, v := range want {
		if fmt.Sprint(env[k]) != fmt.Sprint(v) {
			t.Errorf("envelope %s = %v, want %v", k, env[k], v)
		}
	}
	if id, _ := env["id"].(string); !uuidRE.MatchString(id) || id != aws.ToString(out.Entries[0].EventId) {
		t.Errorf("envelope id %q, PutEvents EventId %q", id, aws.ToString(out.Entries[0].EventId))
	}
	checkKeyOrder(t, got)

	evs := b.Events()
	if len(evs) != 4 {
		t.Fatalf("Events() = %d, want 4", len(evs))
	}
	for i, e := range evs {
		if e.ID != aws.ToString(out.Entries[i].EventId) {
			t.Errorf("event %d id %s != EventId %s", i, e.ID, aws.ToString(out.Entries[i].EventId))
		}
	}
	if evs[1].Resources == nil || len(evs[1].Resources) != 0 {
		t.Errorf("resources of an entry without any: %#v, want []", evs[1].Resources)
	}
	if evs[0].EventBus != "imgbatch" || evs[3].EventBus != "default" {
		t.Errorf("buses %q %q", evs[0].EventBus, evs[3].EventBus)
	}
	if !evs[1].Time.After(time.Now().Add(-time.Minute)) {
		t.Errorf("time of an entry without Time: %v, want now", evs[1].Time)
	}
}

// checkKeyOrder checks that an envelope's keys come in the order
// EventBridge delivers them.
func checkKeyOrder(t *testing.T, envelope []byte) {
	t.Helper()
	keys := regexp.MustCompile(`"(version|id|detail-type|source|account|time|region|resources|detail)":`).FindAllStringSubmatch(string(envelope), -1)
	var order []string
	for _, k := range keys[:9] {
		order = append(order, k[1])
	}
	if strings.Join(order, ",") != "version,id,detail-type,source,account,time,region,resources,detail" {
		t.Errorf("key order %v", order)
	}
}

// What the SDK puts on the wire, byte for byte where it matters.
func TestWireFormat(t *testing.T) {
	b := eventbus.New(eventbus.Config{})
	var (
		mu      sync.Mutex
		lastReq *http.Request
		lastRaw []byte
	)
	capture := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		lastReq, lastRaw = r.Clone(context.Background()), body
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		b.ServeHTTP(w, r)
	})
	client, _ := bustest.Serve(t, b, capture, 0)

	when := time.Unix(946684800, 0)
	e := entry("imgbatch", "Run Completed", `{"runId":"r-1"}`)
	e.EventBusName = aws.String("imgbatch")
	e.Time = &when
	if _, err := client.PutEvents(bustest.Context(t), &ebsdk.PutEventsInput{Entries: []types.PutEventsRequestEntry{e}}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	req, raw := lastReq, lastRaw
	mu.Unlock()
	if req.Method != http.MethodPost || req.URL.Path != "/" {
		t.Errorf("request %s %s", req.Method, req.URL.Path)
	}
	if got := req.Header.Get("X-Amz-Target"); got != "AWSEvents.PutEvents" {
		t.Errorf("X-Amz-Target %q", got)
	}
	if got := req.Header.Get("Content-Type"); got != "application/x-amz-json-1.1" {
		t.Errorf("Content-Type %q", got)
	}
	if !strings.HasPrefix(req.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		t.Errorf("request not SigV4-signed: %q", req.Header.Get("Authorization"))
	}
	var body map[string][]map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("request body %s: %v", raw, err)
	}
	got := body["Entries"][0]
	if got["Source"] != "imgbatch" || got["DetailType"] != "Run Completed" || got["Detail"] != `{"runId":"r-1"}` ||
		got["EventBusName"] != "imgbatch" || got["Time"] != float64(946684800) {
		t.Errorf("entry on the wire: %s", raw)
	}
}

// What the bus answers, raw, to PutEvents, an unknown operation, a wrong
// content type and truncated JSON.
func TestRawAnswers(t *testing.T) {
	b := eventbus.New(eventbus.Config{})
	client, srv := bustest.Serve(t, b, b, 0)
	post := func(target, ct, body string) (int, http.Header, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", target)
		req.Header.Set("Content-Type", ct)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	status, hdr, resp := post("AWSEvents.PutEvents", "application/x-amz-json-1.1",
		`{"Entries":[{"Source":"imgbatch","DetailType":"Run Completed","Detail":"{\"runId\":\"r-1\"}"},{"Source":"imgbatch","DetailType":"x","Detail":"[1]"}]}`)
	if status != 200 || hdr.Get("Content-Type") != "application/x-amz-json-1.1" || hdr.Get("X-Amzn-Requestid") == "" {
		t.Errorf("PutEvents answer %d %v", status, hdr)
	}
	okRE := regexp.MustCompile(`^\{"Entries":\[\{"EventId":"[0-9a-f-]{36}"\},\{"ErrorCode":"MalformedDetail","ErrorMessage":"Detail is malformed."\}\],"FailedEntryCount":1\}\n?$`)
	if !okRE.MatchString(resp) {
		t.Errorf("PutEvents answer body %s", resp)
	}
	status, _, resp = post("AWSEvents.ListRules", "application/x-amz-json-1.1", `{}`)
	if status != 400 || !strings.Contains(resp, `"__type":"UnknownOperationException"`) {
		t.Errorf("unknown operation: %d %s", status, resp)
	}
	status, _, resp = post("AWSEvents.PutEvents", "application/json", `{}`)
	if status != 400 || !strings.Contains(resp, `"__type":"SerializationException"`) {
		t.Errorf("wrong content type: %d %s", status, resp)
	}
	status, _, resp = post("AWSEvents.PutEvents", "application/x-amz-json-1.1", `{"Entries":`)
	if status != 400 || !strings.Contains(resp, `"__type":"SerializationException"`) {
		t.Errorf("truncated JSON: %d %s", status, resp)
	}

	// The SDK reads the unknown-operation error as an API error.
	_, err := client.ListRules(bustest.Context(t), &ebsdk.ListRulesInput{})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "UnknownOperationException" {
		t.Errorf("ListRules error %v", err)
	}
}

// Malformed entries fail one by one, with EventBridge's codes and messages;
// good entries of the same call are accepted.
func TestMalformedEntries(t *testing.T) {
	b := eventbus.New(eventbus.Config{})
	client, _ := bustest.Serve(t, b, b, 0)
	es := []types.PutEventsRequestEntry{
		{DetailType: aws.String("Run Completed"), Detail: aws.String(`{}`)},
		{Source: aws.String("imgbatch"), Detail: aws.String(`{}`)},
		{Source: aws.String("imgbatch"), DetailType: aws.String("Run Completed")},
		entry("imgbatch", "Run Completed", `{"runId":"ok"}`),
		entry("imgbatch", "Run Completed", `not json`),
		entry("imgbatch", "Run Completed", `["an","array"]`),
		entry("imgbatch", "Run Completed", `"a string"`),
		entry("imgbatch", "Run Completed", `null`),
	}
	out, err := client.PutEvents(bustest.Context(t), &ebsdk.PutEventsInput{Entries: es})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ code, msg string }{
		{"InvalidArgument", "Parameter Source is not valid. Reason: Source is a required argument."},
		{"InvalidArgument", "Parameter DetailType is not valid. Reason: DetailType is a required argument."},
		{"InvalidArgument", "Parameter Detail is not valid. Reason: Detail is a required argument."},
		{"", ""},
		{"MalformedDetail", "Detail is malformed."},
		{"MalformedDetail", "Detail is malformed."},
		{"MalformedDetail", "Detail is malformed."},
		{"MalformedDetail", "Detail is malformed."},
	}
	if out.FailedEntryCount != 7 || len(out.Entries) != len(want) {
		t.Fatalf("FailedEntryCount %d, %d entries", out.FailedEntryCount, len(out.Entries))
	}
	for i, w := range want {
		r := out.Entries[i]
		if aws.ToString(r.ErrorCode) != w.code || aws.ToString(r.ErrorMessage) != w.msg {
			t.Errorf("entry %d: %q %q, want %q %q", i, aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage), w.code, w.msg)
		}
		if (w.code == "") != (r.EventId != nil) {
			t.Errorf("entry %d: EventId %v", i, aws.ToString(r.EventId))
		}
	}
	if evs := b.Events(); len(evs) != 1 || string(evs[0].Detail) != `{"runId":"ok"}` {
		t.Errorf("accepted %v", evs)
	}
}

// Request-level limits answer ValidationException, which the SDK surfaces
// as an API error.
func TestRequestLimits(t *testing.T) {
	b := eventbus.New(eventbus.Config{})
	client, _ := bustest.Serve(t, b, b, 1)
	var es []types.PutEventsRequestEntry
	for i := 0; i < 11; i++ {
		es = append(es, entry("imgbatch", "Run Completed", `{}`))
	}
	_, err := client.PutEvents(bustest.Context(t), &ebsdk.PutEventsInput{Entries: es})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ValidationException" {
		t.Errorf("11 entries: %v", err)
	}
	big := `{"blob":"` + strings.Repeat("x", 130*1024) + `"}`
	_, err = client.PutEvents(bustest.Context(t), &ebsdk.PutEventsInput{Entries: []types.PutEventsRequestEntry{
		entry("imgbatch", "Run Completed", big), entry("imgbatch", "Run Completed", big)}})
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ValidationException" || !strings.Contains(apiErr.ErrorMessage(), "over the limit") {
		t.Errorf("260 KB: %v", err)
	}
	_, err = client.PutEvents(bustest.Context(t), &ebsdk.PutEventsInput{Entries: []types.PutEventsRequestEntry{}})
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ValidationException" {
		t.Errorf("no entries: %v", err)
	}
	if n := len(b.Events()); n != 0 {
		t.Errorf("%d events accepted from refused calls", n)
	}
}

// A rule sees only the events of its own bus.
func TestRulesBelongToABus(t *testing.T) {
	b := bustest.FastBus(eventbus.Config{})
	client, _ := bustest.Serve(t, b, b, 0)
	onDefault, onCustom := newInbox(), newInbox()
	p := `{"source":["imgbatch"]}`
	for _, r := range []eventbus.Rule{
		{Name: "d", Pattern: p, Targets: []eventbus.Target{{ID: "t", Invoke: onDefault.invoke}}},
		{Name: "c", EventBus: "imgbatch", Pattern: p, Targets: []eventbus.Target{{ID: "t", Invoke: onCustom.invoke}}},
	} {
		if err := b.AddRule(r); err != nil {
			t.Fatal(err)
		}
	}
	e := entry("imgbatch", "Run Completed", `{"runId":"r"}`)
	e.EventBusName = aws.String("imgbatch")
	if _, err := client.PutEvents(bustest.Context(t), &ebsdk.PutEventsInput{Entries: []types.PutEventsRequestEntry{e}}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if onDefault.calls() != 0 || onCustom.calls() != 1 {
		t.Errorf("default bus rule got %d, custom bus rule got %d", onDefault.calls(), onCustom.calls())
	}
}

// The transformer of the Batch target: {"Parameters": {"runId": <runId>}}
// with {"runId":"$.detail.runId"} gives {"Parameters":{"runId":"r-123"}}.
func TestInputTransformerOnTheBus(t *testing.T) {
	b := bustest.FastBus(eventbus.Config{})
	client, _ := bustest.Serve(t, b, b, 0)
	in := newInbox()
	err := b.AddRule(eventbus.Rule{Name: "submit", EventBus: "imgbatch", Pattern: `{"detail-type":["Run Requested"]}`,
		Targets: []eventbus.Target{{ID: "batch", Invoke: in.invoke,
			InputPathsMap: map[string]string{"runId": "$.detail.runId"},
			InputTemplate: `{"Parameters": {"runId": <runId>}}`}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := bustest.FastPublisher(client, "imgbatch").Publish(bustest.Context(t), runRequested("r-123")); err != nil {
		t.Fatal(err)
	}
	got := in.next(t)
	if string(got) != `{"Parameters":{"runId":"r-123"}}` {
		t.Errorf("input %s", got)
	}
	var v struct{ Parameters map[string]string }
	if err := json.Unmarshal(got, &v); err != nil || v.Parameters["runId"] != "r-123" {
		t.Errorf("input %s: %v", got, err)
	}
}

// PutEvents answers before the target runs.
func TestDeliveryIsAsynchronous(t *testing.T) {
	b := bustest.FastBus(eventbus.Config{})
	client, _ := bustest.Serve(t, b, b, 0)
	release, started := make(chan struct{}), make(chan struct{}, 1)
	err := b.AddRule(eventbus.Rule{Name: "slow", Pattern: `{"source":["imgbatch"]}`, Targets: []eventbus.Target{{ID: "t",
		Invoke: func(ctx context.Context, _ []byte) error {
			started <- struct{}{}
			<-release
			return nil
		}}}})
	if err != nil {
		t.Fatal(err)
	}
	// If delivery were synchronous this call would block on release.
	if _, err := client.PutEvents(bustest.Context(t), &ebsdk.PutEventsInput{Entries: []types.PutEventsRequestEntry{entry("imgbatch", "Run Completed", `{}`)}}); err != nil {
		t.Fatal(err)
	}
	close(release)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("target never ran")
	}
}

// A failing target is retried, then dead-lettered; one that recovers is not.
func TestRetriesThenDeadLetter(t *testing.T) {
	dlq := make(chan eventbus.DeadLetter, 4)
	b := bustest.FastBus(eventbus.Config{OnDeadLetter: func(d eventbus.DeadLetter) { dlq <- d }})
	client, _ := bustest.Serve(t, b, b, 0)
	broken, flaky := newInbox(), newInbox()
	broken.fail = func(int) error { return errors.New("queue is gone") }
	flaky.fail = func(n int) error {
		if n <= 2 {
			return fmt.Errorf("flake %d", n)
		}
		return nil
	}
	err := b.AddRule(eventbus.Rule{Name: "r", Pattern: `{"source":["imgbatch"]}`, Targets: []eventbus.Target{
		{ID: "broken", Invoke: broken.invoke, RetryAttempts: 2},
		{ID: "flaky", Invoke: flaky.invoke, RetryAttempts: 5},
		{ID: "panics", Invoke: func(context.Context, []byte) error { panic("boom") }, RetryAttempts: -1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := client.PutEvents(bustest.Context(t), &ebsdk.PutEventsInput{Entries: []types.PutEventsRequestEntry{entry("imgbatch", "Run Completed", `{"runId":"r-9"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	flaky.next(t) // delivered on the third try
	got := map[string]eventbus.DeadLetter{}
	for len(got) < 2 {
		select {
		case d := <-dlq:
			got[d.Target] = d
		case <-time.After(10 * time.Second):
			t.Fatalf("dead letters so far: %v", got)
		}
	}
	b.Close()
	d := got["broken"]
	if d.Rule != "r" || d.Attempts != 3 || d.Err == nil || d.Err.Error() != "queue is gone" ||
		d.Event.ID != aws.ToString(out.Entries[0].EventId) || string(d.Event.Detail) != `{"runId":"r-9"}` {
		t.Errorf("dead letter %+v", d)
	}
	if p := got["panics"]; p.Attempts != 1 || !strings.Contains(p.Err.Error(), "boom") {
		t.Errorf("panicking target: %+v", p)
	}
	if broken.calls() != 3 || flaky.calls() != 3 {
		t.Errorf("broken called %d times (want 3), flaky %d (want 3)", broken.calls(), flaky.calls())
	}
	if n := len(b.DeadLetters()); n != 2 {
		t.Errorf("DeadLetters() = %d, want 2", n)
	}
}

// The event age bound stops retries early.
func TestMaxEventAgeStopsRetries(t *testing.T) {
	b := eventbus.New(eventbus.Config{RetryBaseDelay: 50 * time.Millisecond, RetryMaxDelay: 50 * time.Millisecond})
	client, _ := bustest.Serve(t, b, b, 0)
	in := newInbox()
	in.fail = func(int) error { return errors.New("down") }
	if err := b.AddRule(eventbus.Rule{Name: "r", Pattern: `{"source":["imgbatch"]}`, Targets: []eventbus.Target{
		{ID: "t", Invoke: in.invoke, RetryAttempts: 100, MaxEventAge: 10 * time.Millisecond}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutEvents(bustest.Context(t), &ebsdk.PutEventsInput{Entries: []types.PutEventsRequestEntry{entry("imgbatch", "x", `{}`)}}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	dl := b.DeadLetters()
	if len(dl) != 1 || dl[0].Attempts != 1 {
		t.Errorf("dead letters %+v", dl)
	}
}

// Subscribe streams matching events; WaitFor also finds earlier ones.
func TestSubscribeAndWaitFor(t *testing.T) {
	b := eventbus.New(eventbus.Config{})
	client, _ := bustest.Serve(t, b, b, 0)
	ch, cancel := b.Subscribe(eventbridge.Pattern("", "r-7", eventbridge.DetailTypeRunCompleted, eventbridge.DetailTypeRunFailed))
	p := bustest.FastPublisher(client, "imgbatch")
	ctx := bustest.Context(t)
	err := p.Publish(ctx,
		eventbridge.ShardCompleted{RunID: "r-7", Shard: 0, ResultsURI: "s3://w/x"},
		eventbridge.RunCompleted{RunID: "r-other", ReportURI: "s3://w/r", SummaryURI: "s3://w/s"},
		eventbridge.RunCompleted{RunID: "r-7", ReportURI: "s3://w/r", SummaryURI: "s3://w/s", Shards: 1},
	)
	if err != nil {
		t.Fatal(err)
	}
	var env eventbridge.Envelope
	select {
	case env = <-ch:
	case <-ctx.Done():
		t.Fatal("no event on the subscription")
	}
	ev, err := env.Decode()
	if err != nil {
		t.Fatal(err)
	}
	rc, ok := ev.(eventbridge.RunCompleted)
	if !ok || rc.RunID != "r-7" || rc.EventID != "imgbatch:r-7:run-completed" || env.Source != "imgbatch" {
		t.Errorf("got %#v from %+v", ev, env)
	}
	cancel()
	if _, open := <-ch; open {
		t.Error("channel still open after cancel")
	}

	// Already published: WaitFor still finds it.
	got, err := b.WaitFor(ctx, eventbridge.Pattern("", "r-7", eventbridge.DetailTypeShardCompleted))
	if err != nil || got.DetailType != eventbridge.DetailTypeShardCompleted {
		t.Errorf("WaitFor: %+v %v", got, err)
	}
	short, cancelShort := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancelShort()
	if _, err := b.WaitFor(short, eventbridge.Pattern("", "r-never")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitFor of nothing: %v", err)
	}
}

// Close waits for deliveries (also of events put while it waits), then
// refuses calls and closes subscriptions.
func TestClose(t *testing.T) {
	b := bustest.FastBus(eventbus.Config{})
	client, _ := bustest.Serve(t, b, b, 1)
	ch, _ := b.Subscribe(`{"source":["imgbatch"]}`)
	var finished, chained atomic.Int32
	inTarget := make(chan struct{})
	closing := make(chan struct{})
	err := b.AddRule(eventbus.Rule{Name: "chain", Pattern: `{"detail-type":["first","second"]}`, Targets: []eventbus.Target{{ID: "t",
		Invoke: func(ctx context.Context, in []byte) error {
			defer finished.Add(1)
			var e eventbridge.Envelope
			_ = json.Unmarshal(in, &e)
			if e.DetailType != "first" {
				return nil
			}
			close(inTarget)
			<-closing // Close has been called
			_, err := client.PutEvents(ctx, &ebsdk.PutEventsInput{Entries: []types.PutEventsRequestEntry{entry("imgbatch", "second", `{}`)}})
			if err == nil {
				chained.Add(1)
			}
			return err
		}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutEvents(bustest.Context(t), &ebsdk.PutEventsInput{Entries: []types.PutEventsRequestEntry{entry("imgbatch", "first", `{}`)}}); err != nil {
		t.Fatal(err)
	}
	<-inTarget
	closed := make(chan struct{})
	go func() {
		b.Close()
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("Close returned while a delivery was in flight")
	default:
	}
	close(closing)
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close never returned")
	}
	if finished.Load() != 2 || chained.Load() != 1 {
		t.Errorf("after Close: %d deliveries finished (want 2), chained put ok=%d", finished.Load(), chained.Load())
	}
	_, err = client.PutEvents(bustest.Context(t), &ebsdk.PutEventsInput{Entries: []types.PutEventsRequestEntry{entry("imgbatch", "late", `{}`)}})
	if err == nil {
		t.Error("PutEvents after Close succeeded")
	}
	n := 0
	for range ch { // closed by Close
		n++
	}
	if n > 2 {
		t.Errorf("%d events on the subscription", n)
	}
}

// Fault injection: FailCalls answers whole-call errors the SDK retries;
// FailEntries fails matching entries with InternalFailure.
func TestFaultInjection(t *testing.T) {
	b := eventbus.New(eventbus.Config{})
	client, srv := bustest.Serve(t, b, b, 1) // no SDK retries: see every injected failure
	ctx := bustest.Context(t)
	put := func(es ...types.PutEventsRequestEntry) (*ebsdk.PutEventsOutput, error) {
		return client.PutEvents(ctx, &ebsdk.PutEventsInput{Entries: es})
	}
	// The publisher retries both (eventbridge.TestPublishRetriesFailedCalls):
	// a 500, and a throttling code.
	status := func(err error) int {
		var re *awshttp.ResponseError
		if errors.As(err, &re) {
			return re.HTTPStatusCode()
		}
		return 0
	}
	b.FailCalls(2)
	_, err := put(entry("imgbatch", "x", `{}`))
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InternalException" || status(err) != http.StatusInternalServerError {
		t.Errorf("first injected failure: %v", err)
	}
	_, err = put(entry("imgbatch", "x", `{}`))
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ThrottlingException" || status(err) != http.StatusBadRequest {
		t.Errorf("second injected failure: %v", err)
	}
	if _, err = put(entry("imgbatch", "x", `{}`)); err != nil {
		t.Errorf("third call: %v", err)
	}

	b.FailEntries(func(e eventbus.Entry) bool { return strings.Contains(e.Detail, "bad") })
	out, err := put(entry("imgbatch", "x", `{"v":"good"}`), entry("imgbatch", "x", `{"v":"bad"}`))
	if err != nil {
		t.Fatal(err)
	}
	if out.FailedEntryCount != 1 || aws.ToString(out.Entries[1].ErrorCode) != "InternalFailure" || out.Entries[0].EventId == nil {
		t.Errorf("partial failure: %d %+v", out.FailedEntryCount, out.Entries)
	}
	b.FailEntries(nil)
	if out, err = put(entry("imgbatch", "x", `{"v":"bad"}`)); err != nil || out.FailedEntryCount != 0 {
		t.Errorf("after FailEntries(nil): %v %v", out, err)
	}

	// With its default retries the SDK rides over injected call failures.
	b.FailCalls(2)
	if _, err := bustest.Client(srv.URL, 0).PutEvents(ctx, &ebsdk.PutEventsInput{Entries: []types.PutEventsRequestEntry{entry("imgbatch", "x", `{}`)}}); err != nil {
		t.Errorf("SDK retries: %v", err)
	}
}

// Production wiring: config.LoadDefaultConfig + AWS_ENDPOINT_URL_EVENTBRIDGE
// reaches the bus.
func TestEndpointFromEnvironment(t *testing.T) {
	b := eventbus.New(eventbus.Config{})
	_, srv := bustest.Serve(t, b, b, 0)
	dir := t.TempDir()
	t.Setenv("AWS_ENDPOINT_URL_EVENTBRIDGE", srv.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDLOCALBUS")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local-secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	os.Unsetenv("AWS_ENDPOINT_URL")
	cfg, err := config.LoadDefaultConfig(bustest.Context(t))
	if err != nil {
		t.Fatal(err)
	}
	p := bustest.FastPublisher(ebsdk.NewFromConfig(cfg), "imgbatch")
	if err := p.Publish(bustest.Context(t), runRequested("r-env")); err != nil {
		t.Fatal(err)
	}
	if evs := b.Events(); len(evs) != 1 || evs[0].EventBus != "imgbatch" {
		t.Errorf("events %+v", evs)
	}
}

// Many publishers at once (run with -race).
func TestConcurrentPublishers(t *testing.T) {
	b := bustest.FastBus(eventbus.Config{})
	client, _ := bustest.Serve(t, b, b, 0)
	in := newInbox()
	if err := b.AddRule(eventbus.Rule{Name: "shards", EventBus: "imgbatch", Pattern: eventbridge.Pattern("", "", eventbridge.DetailTypeShardCompleted),
		Targets: []eventbus.Target{{ID: "t", Invoke: in.invoke, InputPath: "$.detail.eventId"}}}); err != nil {
		t.Fatal(err)
	}
	b.FailEntries(func(e eventbus.Entry) bool {
		return strings.Contains(e.Detail, `"shard":7,`) && time.Now().UnixNano()%2 == 0
	})
	ctx := bustest.Context(t)
	const workers, per = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := bustest.FastPublisher(client, "imgbatch")
			p.Retry.MaxAttempts = 50
			var evs []eventbridge.Event
			for i := 0; i < per; i++ {
				evs = append(evs, eventbridge.ShardCompleted{RunID: fmt.Sprintf("r-%d", w), Shard: i, ResultsURI: "s3://w/r"})
			}
			errs <- p.Publish(ctx, evs...)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	b.Close()
	seen := map[string]bool{}
	for _, raw := range in.got {
		var id string
		_ = json.Unmarshal(raw, &id)
		seen[id] = true
	}
	if len(seen) != workers*per {
		t.Errorf("%d distinct ids delivered, want %d", len(seen), workers*per)
	}
}

// Cross-check with another client: the real aws CLI (botocore) talks to the
// bus too. Skipped where the CLI is not installed.
func TestAWSCLIPutEvents(t *testing.T) {
	testutil.Long(t, "starts the aws CLI (slow)")
	awsCLI, err := exec.LookPath("aws")
	testutil.Need(t, "the aws CLI (awscli)", err)
	b := bustest.FastBus(eventbus.Config{})
	_, srv := bustest.Serve(t, b, b, 0)
	in := newInbox()
	if err := b.AddRule(eventbus.Rule{Name: "submit", EventBus: "imgbatch", Pattern: `{"source":["imgbatch"],"detail-type":["Run Requested"]}`,
		Targets: []eventbus.Target{{ID: "batch", Invoke: in.invoke, InputPathsMap: map[string]string{"runId": "$.detail.runId"},
			InputTemplate: `{"Parameters": {"runId": <runId>}}`}}}); err != nil {
		t.Fatal(err)
	}
	entries := `[{"Source":"imgbatch","DetailType":"Run Requested","Detail":"{\"runId\":\"r-cli\"}","EventBusName":"imgbatch","Time":"2025-01-02T03:04:05Z"},` +
		`{"Source":"imgbatch","DetailType":"Run Requested","Detail":"not json","EventBusName":"imgbatch"}]`
	dir := t.TempDir()
	cmd := exec.CommandContext(bustest.Context(t), awsCLI, "events", "put-events", "--endpoint-url", srv.URL, "--output", "json", "--entries", entries)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "AWS_ACCESS_KEY_ID=AKIDLOCALBUS", "AWS_SECRET_ACCESS_KEY=local-secret", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE="+filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("aws events put-events: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var resp struct {
		FailedEntryCount int
		Entries          []struct{ EventId, ErrorCode, ErrorMessage string }
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if resp.FailedEntryCount != 1 || len(resp.Entries) != 2 || !uuidRE.MatchString(resp.Entries[0].EventId) || resp.Entries[1].ErrorCode != "MalformedDetail" {
		t.Errorf("aws CLI read %s", out)
	}
	if got := in.next(t); string(got) != `{"Parameters":{"runId":"r-cli"}}` {
		t.Errorf("target input %s", got)
	}
	if evs := b.Events(); len(evs) != 1 || evs[0].Time.Format(time.RFC3339) != "2025-01-02T03:04:05Z" {
		t.Errorf("events %+v", evs)
	}
}

// A transformation that fails at delivery time dead-letters the event
// without invoking the target (Attempts 0).
func TestTransformationFailureDeadLetters(t *testing.T) {
	b := bustest.FastBus(eventbus.Config{})
	client, _ := bustest.Serve(t, b, b, 0)
	in := newInbox()
	if err := b.AddRule(eventbus.Rule{Name: "r", Pattern: `{"source":["imgbatch"]}`, Targets: []eventbus.Target{{ID: "t", Invoke: in.invoke,
		InputPathsMap: map[string]string{"s": "$.detail.s"}, InputTemplate: `{"s": "<s>"}`}}}); err != nil {
		t.Fatal(err)
	}
	e := types.PutEventsRequestEntry{Source: aws.String("imgbatch"), DetailType: aws.String("x"), Detail: aws.String(`{"s":"a \"quoted\" key"}`)}
	if _, err := client.PutEvents(bustest.Context(t), &ebsdk.PutEventsInput{Entries: []types.PutEventsRequestEntry{e}}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	dl := b.DeadLetters()
	if len(dl) != 1 || dl[0].Attempts != 0 || !strings.Contains(dl[0].Err.Error(), "input transformation") || in.calls() != 0 {
		t.Errorf("dead letters %+v, %d calls", dl, in.calls())
	}
}
