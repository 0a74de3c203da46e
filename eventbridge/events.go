// Package eventbridge holds imgbatch's events and what sends them:
//
//   - the detail types a run emits (Run Requested, Shard Completed, Run
//     Completed, Run Failed), each with a deterministic id consumers dedupe
//     on, and a JSON Schema per detail type under schema/;
//   - the Envelope EventBridge wraps them in when it delivers them;
//   - a Publisher that sends them with the real aws-sdk-go-v2 EventBridge
//     client (batches of at most 10 entries and under 256 KB, failed entries
//     resent with backoff).
//
// The local stand-in for EventBridge (PutEvents protocol, rules matched with
// quamina, input transformation, delivery) is localstack/eventbus; locally
// the production client is only pointed at it (BaseEndpoint, or
// AWS_ENDPOINT_URL_EVENTBRIDGE): nothing is mocked.
package eventbridge

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/imgbatch/imgbatch"
)

// DefaultSource is the source of imgbatch's events.
const DefaultSource = "imgbatch"

// Detail types of imgbatch's events.
const (
	DetailTypeRunRequested   = "Run Requested"
	DetailTypeShardCompleted = "Shard Completed"
	DetailTypeRunCompleted   = "Run Completed"
	DetailTypeRunFailed      = "Run Failed"
)

// DetailTypes lists every detail type imgbatch emits.
var DetailTypes = []string{DetailTypeRunRequested, DetailTypeShardCompleted, DetailTypeRunCompleted, DetailTypeRunFailed}

// idPrefix starts every event id. It does not follow the configured source:
// the id names the fact (this run, this shard), not the bus it went through.
const idPrefix = "imgbatch:"

// ID is the deterministic id of an event, carried in the detail as eventId
// (PutEvents has no client-chosen id; the envelope id is random). Consumers
// dedupe on it: an event re-sent from the outbox has the same id.
//
//	ID("r-1", "Run Completed", -1)  = "imgbatch:r-1:run-completed"
//	ID("r-1", "Shard Completed", 7) = "imgbatch:r-1:shard-completed:7"
//
// shard is used only by per-shard detail types (Shard Completed) and ignored
// by the others.
func ID(runID, detailType string, shard int) string {
	id := idPrefix + runID + ":" + slug(detailType)
	if detailType == DetailTypeShardCompleted {
		id += ":" + strconv.Itoa(shard)
	}
	return id
}

// eventID is id when set, else the deterministic ID.
func eventID(id, runID, detailType string, shard int) string {
	if id != "" {
		return id
	}
	return ID(runID, detailType, shard)
}

// slug turns "Run Completed" into "run-completed".
func slug(s string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), " ", "-")
}

// Event is one imgbatch event: its detail type and deterministic id. The
// detail is the JSON encoding of the value itself (which must be a JSON
// object). RunRequested, ShardCompleted, RunCompleted and RunFailed are the
// events imgbatch emits.
type Event interface {
	DetailType() string
	ID() string
}

// validator is implemented by events that can check themselves before they
// are sent.
type validator interface{ Validate() error }

// S3URI renders s3://bucket/key.
func S3URI(bucket, key string) string { return "s3://" + bucket + "/" + strings.TrimPrefix(key, "/") }

// RunRequested asks for a run to be processed: the rule in front of the Batch
// job queue matches it and submits the array job.
type RunRequested struct {
	EventID     string    `json:"eventId"`
	RunID       string    `json:"runId"`
	WorkBucket  string    `json:"workBucket"`
	RunURI      string    `json:"runUri"` // s3://WORK/runs/<id>/run.json
	Items       int64     `json:"items"`
	Bytes       int64     `json:"bytes"`
	Shards      int       `json:"shards"`
	ArrayWidth  int       `json:"arrayWidth"`
	RecipeHash  string    `json:"recipeHash"`
	RequestedAt time.Time `json:"requestedAt"`
}

// NewRunRequested describes the plan run as a Run Requested event.
func NewRunRequested(run imgbatch.Run) RunRequested {
	return RunRequested{
		EventID:     ID(run.ID, DetailTypeRunRequested, -1),
		RunID:       run.ID,
		WorkBucket:  run.WorkBucket,
		RunURI:      S3URI(run.WorkBucket, imgbatch.Layout{RunID: run.ID}.Run()),
		Items:       run.Items,
		Bytes:       run.Bytes,
		Shards:      run.Shards,
		ArrayWidth:  run.Width,
		RecipeHash:  run.RecipeHash,
		RequestedAt: run.CreatedAt.UTC(),
	}
}

// DetailType implements Event.
func (RunRequested) DetailType() string { return DetailTypeRunRequested }

// ID implements Event: EventID, or the deterministic id when unset.
func (e RunRequested) ID() string { return eventID(e.EventID, e.RunID, DetailTypeRunRequested, -1) }

// Validate checks the fields consumers rely on.
func (e RunRequested) Validate() error {
	return firstErr(need("runId", e.RunID), need("workBucket", e.WorkBucket), need("runUri", e.RunURI))
}

// MarshalJSON always writes the eventId.
func (e RunRequested) MarshalJSON() ([]byte, error) {
	type plain RunRequested // without this method
	e.EventID = e.ID()
	return json.Marshal(plain(e))
}

// ShardCompleted reports one finished shard (its write-once done marker is
// the outbox of this event). There is one per shard of a run, sent by the
// shard's owner or, after the owner's window, by the finalizer, never by
// both at once (batch/shardevent.go); delivery is still at least once, so
// consumers dedupe on EventID.
type ShardCompleted struct {
	EventID     string          `json:"eventId"`
	RunID       string          `json:"runId"`
	Shard       int             `json:"shard"`
	Epoch       int64           `json:"epoch"`
	Counts      imgbatch.Counts `json:"counts"`
	ResultsURI  string          `json:"resultsUri"`
	DurationMs  int64           `json:"durationMs"`
	CompletedAt time.Time       `json:"completedAt,omitzero"`
}

// DetailType implements Event.
func (ShardCompleted) DetailType() string { return DetailTypeShardCompleted }

// ID implements Event: EventID, or the deterministic id when unset.
func (e ShardCompleted) ID() string {
	return eventID(e.EventID, e.RunID, DetailTypeShardCompleted, e.Shard)
}

// Validate checks the fields consumers rely on.
func (e ShardCompleted) Validate() error {
	err := firstErr(need("runId", e.RunID), need("resultsUri", e.ResultsURI))
	if err == nil && e.Shard < 0 {
		err = fmt.Errorf("shard %d < 0", e.Shard)
	}
	return err
}

// MarshalJSON always writes the eventId.
func (e ShardCompleted) MarshalJSON() ([]byte, error) {
	type plain ShardCompleted // without this method
	e.EventID = e.ID()
	return json.Marshal(plain(e))
}

// RunCompleted reports a finished run whose failures stayed within its
// tolerance.
type RunCompleted struct {
	EventID    string          `json:"eventId"`
	RunID      string          `json:"runId"`
	Counts     imgbatch.Counts `json:"counts"`
	Shards     int             `json:"shards"`
	ReportURI  string          `json:"reportUri"`
	FailedURI  string          `json:"failedUri,omitempty"` // only when items failed
	SummaryURI string          `json:"summaryUri"`
	// CatalogURI is the prefix of the run's Parquet catalog (one table,
	// catalog/part-NNNN.parquet); PictureURI is picture.jsonl, the
	// outputs chosen per source. Both are absent from older runs' events.
	CatalogURI string    `json:"catalogUri,omitempty"`
	PictureURI string    `json:"pictureUri,omitempty"`
	DurationMs int64     `json:"durationMs"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
}

// DetailType implements Event.
func (RunCompleted) DetailType() string { return DetailTypeRunCompleted }

// ID implements Event: EventID, or the deterministic id when unset.
func (e RunCompleted) ID() string { return eventID(e.EventID, e.RunID, DetailTypeRunCompleted, -1) }

// Validate checks the fields consumers rely on.
func (e RunCompleted) Validate() error {
	return firstErr(need("runId", e.RunID), need("reportUri", e.ReportURI), need("summaryUri", e.SummaryURI))
}

// MarshalJSON always writes the eventId.
func (e RunCompleted) MarshalJSON() ([]byte, error) {
	type plain RunCompleted // without this method
	e.EventID = e.ID()
	return json.Marshal(plain(e))
}

// RunFailed reports a run that broke its failure tolerance (or could not
// finish at all); Reason says why.
type RunFailed struct {
	EventID      string          `json:"eventId"`
	RunID        string          `json:"runId"`
	Counts       imgbatch.Counts `json:"counts"`
	Shards       int             `json:"shards"`
	ReportURI    string          `json:"reportUri,omitempty"` // when the run got as far as a report
	FailedURI    string          `json:"failedUri,omitempty"`
	SummaryURI   string          `json:"summaryUri,omitempty"`
	CatalogURI   string          `json:"catalogUri,omitempty"` // as in RunCompleted, when the run got as far as a report
	PictureURI   string          `json:"pictureUri,omitempty"`
	DurationMs   int64           `json:"durationMs"`
	FinishedAt   time.Time       `json:"finishedAt,omitzero"`
	Reason       string          `json:"reason"`                 // tolerance, cancelled, workers-failed
	Detail       string          `json:"detail,omitempty"`       // the reason in words
	RemainingURI string          `json:"remainingUri,omitempty"` // the items that never ran (a run ended early)
}

// DetailType implements Event.
func (RunFailed) DetailType() string { return DetailTypeRunFailed }

// ID implements Event: EventID, or the deterministic id when unset.
func (e RunFailed) ID() string { return eventID(e.EventID, e.RunID, DetailTypeRunFailed, -1) }

// Validate checks the fields consumers rely on.
func (e RunFailed) Validate() error {
	return firstErr(need("runId", e.RunID), need("reason", e.Reason))
}

// MarshalJSON always writes the eventId.
func (e RunFailed) MarshalJSON() ([]byte, error) {
	type plain RunFailed // without this method
	e.EventID = e.ID()
	return json.Marshal(plain(e))
}

func need(field, v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("%s is empty", field)
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// DecodeDetail turns a delivered event back into its typed detail
// (RunRequested, ShardCompleted, RunCompleted or RunFailed, as values).
func DecodeDetail(detailType string, detail []byte) (Event, error) {
	var (
		ev  Event
		err error
	)
	switch detailType {
	case DetailTypeRunRequested:
		var v RunRequested
		err = json.Unmarshal(detail, &v)
		ev = v
	case DetailTypeShardCompleted:
		var v ShardCompleted
		err = json.Unmarshal(detail, &v)
		ev = v
	case DetailTypeRunCompleted:
		var v RunCompleted
		err = json.Unmarshal(detail, &v)
		ev = v
	case DetailTypeRunFailed:
		var v RunFailed
		err = json.Unmarshal(detail, &v)
		ev = v
	default:
		return nil, fmt.Errorf("eventbridge: unknown detail type %q", detailType)
	}
	if err != nil {
		return nil, fmt.Errorf("eventbridge: decode %s detail: %w", detailType, err)
	}
	return ev, nil
}

// Pattern builds an EventBridge event pattern matching events of source
// (DefaultSource when empty) with any of detailTypes (any detail type when
// none), and, when runID is set, only those of that run:
//
//	Pattern("imgbatch", "r-1", "Run Completed", "Run Failed")
//	= {"source":["imgbatch"],"detail-type":["Run Completed","Run Failed"],"detail":{"runId":["r-1"]}}
func Pattern(source, runID string, detailTypes ...string) string {
	if source == "" {
		source = DefaultSource
	}
	type detail struct {
		RunID []string `json:"runId,omitempty"`
	}
	p := struct {
		Source     []string `json:"source"`
		DetailType []string `json:"detail-type,omitempty"`
		Detail     *detail  `json:"detail,omitempty"`
	}{Source: []string{source}, DetailType: detailTypes}
	if runID != "" {
		p.Detail = &detail{RunID: []string{runID}}
	}
	b, _ := json.Marshal(p) // cannot fail: strings only
	return string(b)
}

//go:embed schema/*.json
var schemaFS embed.FS

// Schema returns the JSON Schema (draft-04, the dialect of the EventBridge
// schema registry) of the detail of detailType.
func Schema(detailType string) ([]byte, error) {
	b, err := schemaFS.ReadFile("schema/" + slug(detailType) + ".json")
	if err != nil {
		return nil, errors.Join(fmt.Errorf("eventbridge: no schema for detail type %q", detailType), err)
	}
	return b, nil
}
