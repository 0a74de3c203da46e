package eventbus

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

const sampleEvent = `{"version":"0","id":"6a7e8feb-b491-4cf7-a9f1-bf3703467718","detail-type":"Run Requested","source":"imgbatch",` +
	`"account":"000000000000","time":"2025-01-02T03:04:05Z","region":"us-east-1","resources":["arn:a","arn:b"],` +
	`"detail":{"runId":"r-123","items":1200,"ok":true,"nested":{"a":1},"list":[{"k":"x"},{"k":"y"}],"quote":"say \"hi\"","tag":"<b>&","big":12345678901234567890}}`

func transform(t *testing.T, target Target) ([]byte, error) {
	t.Helper()
	target.ID, target.Invoke = "t", func(context.Context, []byte) error { return nil }
	tr, err := compileTarget(target)
	if err != nil {
		t.Fatalf("compile %+v: %v", target, err)
	}
	return tr.apply(eventContext{raw: []byte(sampleEvent), ruleName: "submit",
		ruleARN: "arn:aws:events:us-east-1:000000000000:rule/imgbatch/submit", ingested: "2025-01-02T03:04:06Z"})
}

var paths = map[string]string{
	"runId": "$.detail.runId", "items": "$.detail.items", "ok": "$.detail.ok", "nested": "$.detail.nested",
	"second": "$.resources[1]", "keys": "$.detail.list[*].k", "quote": "$.detail.quote", "tag": "$.detail.tag",
	"missing": "$.detail.nope", "big": "$.detail.big", "detailType": "$.detail-type", "all": "$.detail.nested.*",
}

func TestInputTransformer(t *testing.T) {
	cases := []struct{ name, tmpl, want string }{
		{"the Batch target", `{"Parameters": {"runId": <runId>}}`, `{"Parameters":{"runId":"r-123"}}`},
		{"string in quotes", `{"id": "<runId>"}`, `{"id":"r-123"}`},
		{"variables inside a string", `{"msg": "run <runId> has <items> items, ok=<ok>"}`, `{"msg":"run r-123 has 1200 items, ok=true"}`},
		{"escaped quotes in a string", `{"msg": "run \"<runId>\""}`, `{"msg":"run \"r-123\""}`},
		{"bare number, boolean, object", `{"n": <items>, "b": <ok>, "o": <nested>}`, `{"n":1200,"b":true,"o":{"a":1}}`},
		{"exact big numbers", `{"big": <big>}`, `{"big":12345678901234567890}`},
		{"array template", `[<runId>, <items>, 9, true]`, `["r-123",1200,9,true]`},
		{"index and wildcards", `{"second": <second>, "keys": <keys>, "all": <all>}`, `{"second":"arn:b","keys":["x","y"],"all":[1]}`},
		{"dashes in paths", `{"dt": <detailType>}`, `{"dt":"Run Requested"}`},
		{"bare strings are escaped", `{"q": <quote>, "tag": <tag>}`, `{"q":"say \"hi\"","tag":"<b>&"}`},
		{"missing path", `{"x": <missing>, "s": "a<missing>b"}`, `{"x":null,"s":"ab"}`},
		{"predefined", `{"name": <aws.events.rule-name>, "arn": "<aws.events.rule-arn>", "at": <aws.events.event.ingestion-time>}`,
			`{"name":"submit","arn":"arn:aws:events:us-east-1:000000000000:rule/imgbatch/submit","at":"2025-01-02T03:04:06Z"}`},
		{"literal angle brackets", `{"cmp": "a < b > c", "x": <runId>}`, `{"cmp":"a < b > c","x":"r-123"}`},
		{"text template", `<runId> has <items> items`, `r-123 has 1200 items`},
		{"quoted string template", `"instance <runId> is in <ok>"`, `"instance r-123 is in true"`},
		{"text template keeps values raw", `<quote> <nested>`, `say "hi" {"a":1}`},
	}
	for _, c := range cases {
		got, err := transform(t, Target{InputPathsMap: paths, InputTemplate: c.tmpl})
		if err != nil || string(got) != c.want {
			t.Errorf("%s: %s\n got  %s (%v)\n want %s", c.name, c.tmpl, got, err, c.want)
		}
	}

	// <aws.events.event> is the event without detail; .json is all of it.
	got, err := transform(t, Target{InputTemplate: `{"e": <aws.events.event>, "j": <aws.events.event.json>}`})
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ E, J map[string]any }
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatalf("%s: %v", got, err)
	}
	if _, ok := v.E["detail"]; ok || v.E["source"] != "imgbatch" || v.E["detail-type"] != "Run Requested" {
		t.Errorf("aws.events.event = %v", v.E)
	}
	if d, _ := v.J["detail"].(map[string]any); d["runId"] != "r-123" {
		t.Errorf("aws.events.event.json = %v", v.J)
	}

	// As in EventBridge, a value put inside quotes is not escaped: a quote in
	// it breaks the JSON, and the delivery fails.
	if _, err := transform(t, Target{InputPathsMap: paths, InputTemplate: `{"q": "<quote>"}`}); err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Errorf("unescaped quote: %v", err)
	}
}

func TestInputAndInputPath(t *testing.T) {
	cases := []struct {
		target Target
		want   string
	}{
		{Target{}, sampleEvent},
		{Target{Input: `{ "Parameters" : { "mode": "nightly" } }`}, `{"Parameters":{"mode":"nightly"}}`},
		{Target{InputPath: "$.detail.nested"}, `{"a":1}`},
		{Target{InputPath: "$.detail.runId"}, `"r-123"`},
		{Target{InputPath: "$"}, ""}, // whole event, re-encoded
	}
	for _, c := range cases {
		got, err := transform(t, c.target)
		if err != nil {
			t.Errorf("%+v: %v", c.target, err)
			continue
		}
		if c.want == "" {
			var m map[string]any
			if json.Unmarshal(got, &m) != nil || m["source"] != "imgbatch" {
				t.Errorf("%+v: %s", c.target, got)
			}
			continue
		}
		if string(got) != c.want {
			t.Errorf("%+v: got %s, want %s", c.target, got, c.want)
		}
	}
	if _, err := transform(t, Target{InputPath: "$.detail.nope"}); err == nil {
		t.Error("InputPath to nothing")
	}
}

// Targets are checked when the rule is added, as PutTargets does.
func TestTargetValidation(t *testing.T) {
	bad := map[string]Target{
		"placeholder as key":     {InputPathsMap: map[string]string{"k": "$.detail.runId"}, InputTemplate: `{<k>: 1}`},
		"undefined placeholder":  {InputPathsMap: map[string]string{"k": "$.detail.runId"}, InputTemplate: `{"a": <other>}`},
		"two inputs":             {Input: `{}`, InputPath: "$.detail"},
		"template and path":      {InputPath: "$.detail", InputTemplate: `{}`},
		"path without $":         {InputPath: "detail.runId"},
		"bracket notation":       {InputPath: "$['detail']"},
		"bad key":                {InputPathsMap: map[string]string{"a.b": "$.detail"}, InputTemplate: `"<a.b>"`},
		"AWS. key":               {InputPathsMap: map[string]string{"AWS.x": "$.detail"}, InputTemplate: `"x"`},
		"Input not JSON":         {Input: `{nope`},
		"paths without template": {InputPathsMap: map[string]string{"k": "$.detail"}},
		"unterminated string":    {InputTemplate: `{"a": "b}`},
		"no invoke":              {InputPath: "$.detail"},
	}
	for name, target := range bad {
		target.ID = "t"
		if name != "no invoke" {
			target.Invoke = func(context.Context, []byte) error { return nil }
		}
		if err := New(Config{}).AddRule(Rule{Name: "r", Pattern: `{"source":["imgbatch"]}`, Targets: []Target{target}}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	ok := func(context.Context, []byte) error { return nil }
	if err := New(Config{}).AddRule(Rule{Name: "r", Pattern: `{"source":["imgbatch"]}`, Targets: []Target{{ID: "a", Invoke: ok}, {ID: "a", Invoke: ok}}}); err == nil {
		t.Error("repeated target id accepted")
	}
}
