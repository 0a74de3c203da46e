package eventbus

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch/eventbridge"
)

// Event patterns: what matches and what does not.
func TestPatterns(t *testing.T) {
	ev := func(source, dt, detail string) eventbridge.Envelope {
		return eventbridge.Envelope{Version: "0", ID: newUUID(), Source: source, DetailType: dt, Account: DefaultAccount,
			Region: DefaultRegion, Time: time.Now(), Detail: json.RawMessage(detail)}
	}
	req := ev("imgbatch", "Run Requested", `{"runId":"r-1","items":5}`)
	done := ev("imgbatch", "Run Completed", `{"runId":"r-1","counts":{"failed":0}}`)
	other := ev("acme", "Run Requested", `{"runId":"r-1"}`)
	shard := ev("imgbatch", "Shard Completed", `{"runId":"r-2","shard":3}`)
	cases := []struct {
		pattern string
		match   []eventbridge.Envelope
		miss    []eventbridge.Envelope
	}{
		{`{"source":["imgbatch"],"detail-type":["Run Requested"]}`, []eventbridge.Envelope{req}, []eventbridge.Envelope{done, other, shard}},
		{eventbridge.Pattern("", "r-1", eventbridge.DetailTypeRunCompleted, eventbridge.DetailTypeRunFailed), []eventbridge.Envelope{done}, []eventbridge.Envelope{req, other, shard}},
		{`{"source":["imgbatch"],"detail":{"runId":[{"prefix":"r-"}]}}`, []eventbridge.Envelope{req, done, shard}, []eventbridge.Envelope{other}},
		{`{"source":[{"anything-but":["imgbatch"]}]}`, []eventbridge.Envelope{other}, []eventbridge.Envelope{req, done, shard}},
		{`{"detail":{"shard":[3]}}`, []eventbridge.Envelope{shard}, []eventbridge.Envelope{req, done, other}},
		{`{"detail":{"counts":{"failed":[0]}}}`, []eventbridge.Envelope{done}, []eventbridge.Envelope{req, shard}},
		{`{"detail":{"items":[{"exists":true}]}}`, []eventbridge.Envelope{req}, []eventbridge.Envelope{done, other, shard}},
	}
	for _, c := range cases {
		m, err := newMatcher(c.pattern)
		if err != nil {
			t.Fatalf("%s: %v", c.pattern, err)
		}
		for _, e := range c.match {
			raw, _ := json.Marshal(e)
			if !m.match(raw) {
				t.Errorf("%s does not match %s", c.pattern, raw)
			}
		}
		for _, e := range c.miss {
			raw, _ := json.Marshal(e)
			if m.match(raw) {
				t.Errorf("%s matches %s", c.pattern, raw)
			}
		}
	}
	for _, bad := range []string{``, `{"source":"imgbatch"}`, `not json`} {
		if err := New(Config{}).AddRule(Rule{Name: "x", Pattern: bad}); err == nil {
			t.Errorf("pattern %q accepted", bad)
		}
	}
}
