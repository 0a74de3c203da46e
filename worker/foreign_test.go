package worker

import (
	"context"
	"strings"
	"testing"

	"github.com/imgbatch/imgbatch"
)

// TestIncrementalOutputOfAnotherSource: under the legacy layout photo.jpg
// and photo.png share v1/thumb/photo.jpg. An incremental run of photo.png
// over photo.jpg's outputs does not skip (their ETag and recipe hash
// would not tell), says whose output it overwrote, and records its own key;
// a run of photo.png again then skips.
func TestIncrementalOutputOfAnotherSource(t *testing.T) {
	s := newTestS3(t, "src", "out")
	s.put(t, "src", "photo.jpg", photo(t, 80, 60, false))
	s.put(t, "src", "photo.png", photo(t, 80, 60, false)) // the same bytes: the same ETag
	w := newTestWorker(s, Config{Incremental: true})
	run := testRun(t)
	ctx := context.Background()
	jpg := []imgbatch.Item{{Bucket: "src", Key: "photo.jpg"}}
	png := []imgbatch.Item{{Bucket: "src", Key: "photo.png"}}
	if r := processAll(t, ctx, w, run, jpg).results[0]; r.Status != imgbatch.StatusSucceeded {
		t.Fatalf("photo.jpg: %+v", r)
	}
	if m := s.head(t, "out", "v1/thumb/photo.jpg").Metadata; m[MetaSourceKey] != "photo.jpg" || m[MetaSourceBucket] != "src" {
		t.Fatalf("metadata %v: no source key", m)
	}
	r := processAll(t, ctx, w, run, png).results[0]
	if r.Status != imgbatch.StatusSucceeded || !strings.Contains(r.Message, "made from s3://src/photo.jpg") {
		t.Fatalf("photo.png over photo.jpg's output: %s %q, want succeeded naming the other source", r.Status, r.Message)
	}
	if m := s.head(t, "out", "v1/thumb/photo.jpg").Metadata; m[MetaSourceKey] != "photo.png" {
		t.Fatalf("metadata %v after the overwrite", m)
	}
	if r := processAll(t, ctx, w, run, png).results[0]; r.Status != imgbatch.StatusSkipped {
		t.Fatalf("photo.png again: %s %q, want skipped", r.Status, r.Message)
	}
}
