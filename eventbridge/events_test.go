package eventbridge

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
)

func TestIDs(t *testing.T) {
	cases := map[string]string{
		ID("r-1", DetailTypeRunRequested, -1):                          "imgbatch:r-1:run-requested",
		ID("r-1", DetailTypeShardCompleted, 7):                         "imgbatch:r-1:shard-completed:7",
		ID("r-1", DetailTypeShardCompleted, 0):                         "imgbatch:r-1:shard-completed:0",
		ID("r-1", DetailTypeRunCompleted, 7):                           "imgbatch:r-1:run-completed", // shard ignored
		ID("r-1", DetailTypeRunFailed, -1):                             "imgbatch:r-1:run-failed",
		ShardCompleted{RunID: "r-1", Shard: 3}.ID():                    "imgbatch:r-1:shard-completed:3",
		RunCompleted{RunID: "r-1"}.ID():                                "imgbatch:r-1:run-completed",
		RunCompleted{RunID: "r-1", EventID: "explicit"}.ID():           "explicit",
		NewRunRequested(imgbatch.Run{ID: "r-2"}).ID():                  "imgbatch:r-2:run-requested",
		RunFailed{RunID: "r-3"}.ID():                                   "imgbatch:r-3:run-failed",
		RunRequested{RunID: "r-1"}.DetailType():                        "Run Requested",
		ShardCompleted{}.DetailType() + "|" + RunFailed{}.DetailType(): "Shard Completed|Run Failed",
	}
	for got, want := range cases {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	// The id is in the detail even when the struct leaves it empty.
	b, _ := json.Marshal(ShardCompleted{RunID: "r-1", Shard: 2})
	if !strings.Contains(string(b), `"eventId":"imgbatch:r-1:shard-completed:2"`) {
		t.Errorf("detail %s", b)
	}
	b, _ = json.Marshal(&RunCompleted{RunID: "r-1"}) // pointers too
	if !strings.Contains(string(b), `"eventId":"imgbatch:r-1:run-completed"`) {
		t.Errorf("detail %s", b)
	}
}

func TestNewRunRequested(t *testing.T) {
	run := imgbatch.Run{ID: "r-9", WorkBucket: "work", Items: 10, Bytes: 99, Shards: 2, Width: 4, RecipeHash: "h",
		CreatedAt: time.Date(2025, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))}
	e := NewRunRequested(run)
	if e.RunURI != S3URI("work", imgbatch.Layout{RunID: "r-9"}.Run()) || e.ArrayWidth != 4 || e.Shards != 2 || e.RequestedAt.Location() != time.UTC {
		t.Errorf("%+v", e)
	}
}

// examples of every detail type: typical and worst case.
func examples() map[string][]Event {
	now := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	maxCounts := imgbatch.Counts{Items: math.MaxInt64, Succeeded: math.MaxInt64, Failed: math.MaxInt64, Skipped: math.MaxInt64,
		BytesIn: math.MaxInt64, BytesOut: math.MaxInt64, Outputs: math.MaxInt64}
	longID := strings.Repeat("r", 128)
	longBucket := strings.Repeat("b", 63)
	longURI := S3URI(longBucket, strings.Repeat("k", 1024))
	r1 := imgbatch.Layout{RunID: "r-1"}
	counts := imgbatch.Counts{Items: 1000, Succeeded: 990, Failed: 5, Skipped: 5, BytesIn: 1 << 30, BytesOut: 1 << 28, Outputs: 2970}
	return map[string][]Event{
		DetailTypeRunRequested: {
			sampleRunRequested("r-1"),
			RunRequested{RunID: longID, WorkBucket: longBucket, RunURI: longURI, Items: math.MaxInt64, Bytes: math.MaxInt64,
				Shards: math.MaxInt32, ArrayWidth: 10000, RecipeHash: strings.Repeat("h", 71), RequestedAt: now},
		},
		DetailTypeShardCompleted: {
			ShardCompleted{RunID: "r-1", Shard: 3, Epoch: 2, Counts: counts, ResultsURI: S3URI("work", r1.Results(3, 2)), DurationMs: 61000},
			ShardCompleted{RunID: longID, Shard: math.MaxInt32, Epoch: math.MaxInt64, Counts: maxCounts, ResultsURI: longURI, DurationMs: math.MaxInt64, CompletedAt: now},
		},
		DetailTypeRunCompleted: {
			RunCompleted{RunID: "r-1", Counts: counts, Shards: 12, ReportURI: S3URI("work", r1.Report()),
				SummaryURI: S3URI("work", r1.Summary()), DurationMs: 3600000},
			RunCompleted{RunID: longID, Counts: maxCounts, Shards: math.MaxInt32, ReportURI: longURI, FailedURI: longURI,
				SummaryURI: longURI, CatalogURI: longURI, PictureURI: longURI, DurationMs: math.MaxInt64, FinishedAt: now},
		},
		DetailTypeRunFailed: {
			RunFailed{RunID: "r-1", Counts: counts, Shards: 12, Reason: "1200 of 2000 items failed (> 50%)", DurationMs: 10},
			RunFailed{RunID: longID, Counts: maxCounts, Shards: math.MaxInt32, ReportURI: longURI, FailedURI: longURI,
				SummaryURI: longURI, CatalogURI: longURI, PictureURI: longURI, DurationMs: math.MaxInt64, FinishedAt: now,
				Reason: strings.Repeat("why ", 1024)},
		},
	}
}

// Every marshalled example satisfies the schema of its detail type, and
// every entry stays far below the 256 KB limit.
func TestDetailsMatchTheirSchemas(t *testing.T) {
	p := NewPublisher(nil, "imgbatch", "")
	for _, dt := range DetailTypes {
		raw, err := Schema(dt)
		if err != nil {
			t.Fatal(err)
		}
		var schema map[string]any
		if err := json.Unmarshal(raw, &schema); err != nil {
			t.Fatalf("schema of %s: %v", dt, err)
		}
		if schema["title"] != dt || schema["$schema"] != "http://json-schema.org/draft-04/schema#" {
			t.Errorf("schema of %s: title %v, $schema %v", dt, schema["title"], schema["$schema"])
		}
		exs := examples()[dt]
		if len(exs) == 0 {
			t.Fatalf("no examples for %s", dt)
		}
		for i, ev := range exs {
			detail, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			var doc any
			_ = json.Unmarshal(detail, &doc)
			for _, problem := range validate(schema, doc, "detail") {
				t.Errorf("%s example %d: %s\n%s", dt, i, problem, detail)
			}
			pe, err := p.entry(ev)
			if err != nil {
				t.Fatalf("%s example %d: %v", dt, i, err)
			}
			if pe.size > 16*1024 { // "well under" 256 KB, even with 1 KB keys and 4 KB reasons
				t.Errorf("%s example %d: entry of %d bytes", dt, i, pe.size)
			}
			// Round trip.
			back, err := DecodeDetail(dt, detail)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := json.Marshal(back)
			if string(again) != string(detail) {
				t.Errorf("%s round trip:\n%s\n%s", dt, detail, again)
			}
		}
	}
	// The schema's properties are exactly the struct's JSON fields.
	for dt, typ := range map[string]reflect.Type{DetailTypeRunRequested: reflect.TypeOf(RunRequested{}),
		DetailTypeShardCompleted: reflect.TypeOf(ShardCompleted{}), DetailTypeRunCompleted: reflect.TypeOf(RunCompleted{}),
		DetailTypeRunFailed: reflect.TypeOf(RunFailed{})} {
		raw, _ := Schema(dt)
		var schema struct{ Properties map[string]any }
		_ = json.Unmarshal(raw, &schema)
		var fields, props []string
		for i := 0; i < typ.NumField(); i++ {
			fields = append(fields, strings.Split(typ.Field(i).Tag.Get("json"), ",")[0])
		}
		for k := range schema.Properties {
			props = append(props, k)
		}
		sort.Strings(fields)
		sort.Strings(props)
		if fmt.Sprint(fields) != fmt.Sprint(props) {
			t.Errorf("%s: struct fields %v, schema properties %v", dt, fields, props)
		}
	}
	if _, err := Schema("Nope"); err == nil {
		t.Error("schema of an unknown detail type")
	}
	if _, err := DecodeDetail("Nope", []byte(`{}`)); err == nil {
		t.Error("decoded an unknown detail type")
	}
}

// The validator catches what it should.
func TestSchemaValidatorCatches(t *testing.T) {
	raw, _ := Schema(DetailTypeRunFailed)
	var schema map[string]any
	_ = json.Unmarshal(raw, &schema)
	bad := map[string]string{
		"missing reason":   `{"eventId":"imgbatch:r:run-failed","runId":"r","counts":{"items":0,"succeeded":0,"failed":0,"skipped":0,"bytesIn":0,"bytesOut":0,"outputs":0},"shards":0,"durationMs":0}`,
		"extra field":      `{"eventId":"imgbatch:r:run-failed","runId":"r","counts":{"items":0,"succeeded":0,"failed":0,"skipped":0,"bytesIn":0,"bytesOut":0,"outputs":0},"shards":0,"durationMs":0,"reason":"x","extra":1}`,
		"wrong type":       `{"eventId":"imgbatch:r:run-failed","runId":"r","counts":{"items":"0","succeeded":0,"failed":0,"skipped":0,"bytesIn":0,"bytesOut":0,"outputs":0},"shards":0,"durationMs":0,"reason":"x"}`,
		"bad id":           `{"eventId":"x","runId":"r","counts":{"items":0,"succeeded":0,"failed":0,"skipped":0,"bytesIn":0,"bytesOut":0,"outputs":0},"shards":0,"durationMs":0,"reason":"x"}`,
		"negative":         `{"eventId":"imgbatch:r:run-failed","runId":"r","counts":{"items":0,"succeeded":0,"failed":0,"skipped":0,"bytesIn":0,"bytesOut":0,"outputs":0},"shards":-1,"durationMs":0,"reason":"x"}`,
		"bad time":         `{"eventId":"imgbatch:r:run-failed","runId":"r","counts":{"items":0,"succeeded":0,"failed":0,"skipped":0,"bytesIn":0,"bytesOut":0,"outputs":0},"shards":0,"durationMs":0,"reason":"x","finishedAt":"yesterday"}`,
		"not an s3 uri":    `{"eventId":"imgbatch:r:run-failed","runId":"r","counts":{"items":0,"succeeded":0,"failed":0,"skipped":0,"bytesIn":0,"bytesOut":0,"outputs":0},"shards":0,"durationMs":0,"reason":"x","reportUri":"/tmp/x"}`,
		"fractional count": `{"eventId":"imgbatch:r:run-failed","runId":"r","counts":{"items":0.5,"succeeded":0,"failed":0,"skipped":0,"bytesIn":0,"bytesOut":0,"outputs":0},"shards":0,"durationMs":0,"reason":"x"}`,
	}
	for name, doc := range bad {
		var v any
		if err := json.Unmarshal([]byte(doc), &v); err != nil {
			t.Fatal(err)
		}
		if len(validate(schema, v, "detail")) == 0 {
			t.Errorf("%s: accepted", name)
		}
	}
}

// validate is a small JSON Schema (draft-04 subset) check: type, required,
// properties, additionalProperties:false, pattern, minLength, minimum and
// format date-time. Enough for the detail schemas; no new dependency.
func validate(schema map[string]any, v any, at string) []string {
	var problems []string
	bad := func(f string, a ...any) { problems = append(problems, at+": "+fmt.Sprintf(f, a...)) }
	switch schema["type"] {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			bad("want an object, got %T", v)
			return problems
		}
		props, _ := schema["properties"].(map[string]any)
		for _, r := range schema["required"].([]any) {
			if _, ok := obj[r.(string)]; !ok {
				bad("required %q missing", r)
			}
		}
		for k, x := range obj {
			sub, ok := props[k].(map[string]any)
			if !ok {
				if schema["additionalProperties"] == false {
					bad("property %q not in the schema", k)
				}
				continue
			}
			problems = append(problems, validate(sub, x, at+"."+k)...)
		}
	case "string":
		s, ok := v.(string)
		if !ok {
			bad("want a string, got %T", v)
			return problems
		}
		if p, ok := schema["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(s) {
			bad("%q does not match %s", s, p)
		}
		if n, ok := schema["minLength"].(float64); ok && float64(len(s)) < n {
			bad("%q shorter than %v", s, n)
		}
		if schema["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
				bad("%q is not a date-time", s)
			}
		}
	case "integer", "number":
		n, ok := v.(float64)
		if !ok {
			bad("want a number, got %T", v)
			return problems
		}
		if schema["type"] == "integer" && n != math.Trunc(n) {
			bad("%v is not an integer", n)
		}
		if m, ok := schema["minimum"].(float64); ok && n < m {
			bad("%v below minimum %v", n, m)
		}
	default:
		bad("schema type %v not handled by the test validator", schema["type"])
	}
	return problems
}

func TestPattern(t *testing.T) {
	cases := map[string]string{
		Pattern("", ""): `{"source":["imgbatch"]}`,
		Pattern("imgbatch-dev", "r-1", DetailTypeRunCompleted, DetailTypeRunFailed): `{"source":["imgbatch-dev"],"detail-type":["Run Completed","Run Failed"],"detail":{"runId":["r-1"]}}`,
		Pattern("", "", DetailTypeRunRequested):                                     `{"source":["imgbatch"],"detail-type":["Run Requested"]}`,
	}
	for got, want := range cases {
		if got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
}

func sampleRunRequested(runID string) RunRequested {
	return RunRequested{
		RunID: runID, WorkBucket: "work", RunURI: S3URI("work", imgbatch.Layout{RunID: runID}.Run()),
		Items: 1200, Bytes: 5 << 20, Shards: 12, ArrayWidth: 4, RecipeHash: "sha256:abc",
		RequestedAt: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
	}
}
