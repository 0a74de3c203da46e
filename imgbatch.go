// Package imgbatch holds the domain types shared by every part of imgbatch:
// the items of a manifest, the plan of a run, recipes, per-item results and
// the S3 layout of a run in the work bucket (layout.go) and the contract
// between the runner and the image pipeline (task.go). Subpackages do the work:
// manifest (readers), batch (runs in S3: plan, claims, reports), worker (the
// image pipeline), vips (all cgo), eventbridge (events and the local bus),
// localstack (the embedded one-machine stack) and cmd/imgbatch (the CLI).
package imgbatch

import "time"

// Item is one source object to process.
type Item struct {
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	VersionID string `json:"versionId,omitempty"`
	Size      int64  `json:"size,omitempty"`
	ETag      string `json:"etag,omitempty"`
}

// String renders the item as an s3:// URI (for logs and messages).
func (it Item) String() string {
	s := "s3://" + it.Bucket + "/" + it.Key
	if it.VersionID != "" {
		s += "?versionId=" + it.VersionID
	}
	return s
}

// Tolerance decides when a run has failed. The default is S3 Batch
// Operations' rule: the run fails once at least MinTasks tasks ran and more
// than MaxFailedPercent of them failed. MaxFailed, when > 0, also fails the run
// once more than that many items failed.
type Tolerance struct {
	MinTasks         int64   `json:"minTasks"`
	MaxFailedPercent float64 `json:"maxFailedPercent"`
	MaxFailed        int64   `json:"maxFailed,omitempty"`
}

// DefaultTolerance is S3 Batch Operations' rule.
var DefaultTolerance = Tolerance{MinTasks: 1000, MaxFailedPercent: 50}

// Exceeded reports whether failed out of total breaks the tolerance.
func (t Tolerance) Exceeded(total, failed int64) bool {
	if t.MaxFailed > 0 && failed > t.MaxFailed {
		return true
	}
	if total < t.MinTasks || total == 0 {
		return false
	}
	return float64(failed)*100/float64(total) > t.MaxFailedPercent
}

// Reasons a run ends as failed (final.json's reason, the "Run Failed"
// event's reason): machine-readable; the human detail is beside them.
const (
	ReasonTolerance     = "tolerance"      // the failure tolerance was broken
	ReasonCancelled     = "cancelled"      // imgbatch cancel
	ReasonWorkersFailed = "workers-failed" // the array's children died (Batch job FAILED)
)

// Run is the immutable plan of a run, stored as runs/<id>/run.json.
type Run struct {
	ID           string    `json:"runId"`
	ClientToken  string    `json:"clientToken,omitempty"`
	CreatedAt    time.Time `json:"createdAt"`
	Source       string    `json:"source"`
	WorkBucket   string    `json:"workBucket"`
	OutputBucket string    `json:"outputBucket"`
	OutputPrefix string    `json:"outputPrefix,omitempty"`
	Recipe       Recipe    `json:"recipe"`
	RecipeHash   string    `json:"recipeHash"`
	Items        int64     `json:"items"`
	Bytes        int64     `json:"bytes"`
	Shards       int       `json:"shards"`
	ShardSize    int       `json:"shardSize"`
	Width        int       `json:"arrayWidth"`
	BadLines     int64     `json:"badLines,omitempty"`
	Duplicates   int64     `json:"duplicates,omitempty"`
	Tolerance    Tolerance `json:"tolerance"`
	// Access: SSE of the outputs, expected bucket owners, requester pays
	// (access.go); omitted when none is set.
	Access Access `json:"access,omitzero"`

	// OutputKey is the output key template (outputkey.go); "" (a run.json
	// planned before templates) is LegacyOutputKey.
	OutputKey string `json:"outputKey,omitempty"`
	// Layout is the version of the run's layout in the work bucket
	// (layout.go: 0, absent, or LayoutSpread for a wide array).
	Layout int `json:"layout,omitempty"`
}

// Status is the outcome of one item.
type Status string

const (
	StatusSucceeded Status = "succeeded"
	StatusFailed    Status = "failed"
	StatusSkipped   Status = "skipped" // outputs already current
)

// Output is one written variant of an item.
type Output struct {
	Variant string `json:"variant"`
	Key     string `json:"key"`
	Width   int    `json:"width"`
	Height  int    `json:"height"`
	Bytes   int64  `json:"bytes"`
	// Format is the format written (the choice of a FormatAuto variant).
	Format string `json:"format,omitempty"`
	// Quality is the q the encoder used (the search's choice under a
	// QualityTarget); Score the measured SSIM of the output against the
	// resized image, when measured.
	Quality int     `json:"q,omitempty"`
	Score   float64 `json:"score,omitempty"`
	// Frames of an animated output (omitted for one).
	Frames int `json:"frames,omitempty"`
	// Copied: the output is a server-side copy of the source
	// (KeepSmallerSource), not a re-encode.
	Copied bool `json:"copied,omitempty"`
}

// ImageInfo is what the catalog records of a source image.
type ImageInfo struct {
	Format      string `json:"format,omitempty"`
	Width       int    `json:"width,omitempty"`
	Height      int    `json:"height,omitempty"`
	Frames      int    `json:"frames,omitempty"`
	Orientation int    `json:"orientation,omitempty"`
	ICC         bool   `json:"icc,omitempty"`
	Space       string `json:"space,omitempty"` // srgb, cmyk, b-w, ...
	Alpha       bool   `json:"alpha,omitempty"`
	// Placeholders (Recipe.Placeholders).
	BlurHash  string `json:"blurhash,omitempty"`
	ThumbHash string `json:"thumbhash,omitempty"`
	Color     string `json:"color,omitempty"` // dominant colour, #rrggbb
	PHash     string `json:"phash,omitempty"` // 64-bit perceptual hash, hex
}

// Result is the final record of one item, one line of results/<n>.jsonl.
type Result struct {
	Index      int      `json:"i"` // position of the item in its shard
	Item       Item     `json:"item"`
	Status     Status   `json:"status"`
	ErrorCode  string   `json:"errorCode,omitempty"`
	HTTPStatus int      `json:"httpStatus,omitempty"`
	Message    string   `json:"message,omitempty"`
	Outputs    []Output `json:"outputs,omitempty"`
	// Image describes the source for the catalog (succeeded items).
	Image    *ImageInfo `json:"image,omitempty"`
	BytesIn  int64      `json:"bytesIn,omitempty"`
	BytesOut int64      `json:"bytesOut,omitempty"`
	Millis   int64      `json:"ms"`
}

// Counts sums results.
type Counts struct {
	Items     int64 `json:"items"`
	Succeeded int64 `json:"succeeded"`
	Failed    int64 `json:"failed"`
	Skipped   int64 `json:"skipped"`
	BytesIn   int64 `json:"bytesIn"`
	BytesOut  int64 `json:"bytesOut"`
	Outputs   int64 `json:"outputs"`
}

// Add counts one result.
func (c *Counts) Add(r Result) {
	c.Items++
	switch r.Status {
	case StatusSucceeded:
		c.Succeeded++
	case StatusFailed:
		c.Failed++
	case StatusSkipped:
		c.Skipped++
	}
	c.BytesIn += r.BytesIn
	c.BytesOut += r.BytesOut
	c.Outputs += int64(len(r.Outputs))
}

// Merge adds other into c.
func (c *Counts) Merge(o Counts) {
	c.Items += o.Items
	c.Succeeded += o.Succeeded
	c.Failed += o.Failed
	c.Skipped += o.Skipped
	c.BytesIn += o.BytesIn
	c.BytesOut += o.BytesOut
	c.Outputs += o.Outputs
}
