package imgbatch

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/bits"
	"path"
	"strconv"
)

// The work bucket holds every object of a run under RunsPrefix (README,
// "S3 layout of a run"), and the schedules' watermarks under
// SchedulesPrefix. Layout and ScheduleWatermark are the only places that
// spell these keys; everything else asks them.
const (
	RunsPrefix      = "runs/"
	SchedulesPrefix = "schedules/"
)

// Layout names the objects of a run in the work bucket.
type Layout struct {
	RunID string
	// Version is run.json's "layout": 0 (absent: every run planned before
	// it, and small runs) or LayoutSpread.
	Version int
}

// LayoutOf is the layout of run: the version its run.json says.
func LayoutOf(r *Run) Layout { return Layout{RunID: r.ID, Version: r.Layout} }

// LayoutSpread is the layout version that spreads a large run's control
// traffic (issue 20). S3 partitions a bucket by ranges of key bytes (a
// "prefix" is any leading run of bytes, not a folder) and gives each
// partition about 3,500 writes and 5,500 reads a second; it splits a hot
// range only after minutes of sustained load, and only between keys that
// differ. Under layout 0 every claim, checkpoint, results file and done
// marker of a run shares runs/<id>/<part>/, one range however many
// children write. LayoutSpread puts each SpreadRange shards' objects
// under their own two hex digits right after runs/<id>/:
// runs/<id>/<hh>/claims/<n>.json (SpreadDir), so the keys of a run differ
// early and S3 can split it into up to 256 partitions. Each range keeps
// its shards in key order under one prefix: the scanner still lists a
// range in one LIST request, as many as under layout 0.
const LayoutSpread = 1

// SpreadRange is how many consecutive shards share a spread prefix: the
// scanner's range of one LIST page (batch/scan.go).
const SpreadRange = 1000

// SpreadPrefix is the two hex digits of shard n's range k = n/SpreadRange:
// k's low byte bit-reversed, so that the first ranges (those children of an
// array work at the same time) differ in the first digit (00, 80, 40, c0,
// 20 …), where a partition split helps the soonest.
func SpreadPrefix(n int) string {
	return fmt.Sprintf("%02x", bits.Reverse8(uint8(n/SpreadRange)))
}

func (l Layout) prefix() string { return path.Join("runs", l.RunID) }

// SpreadDir is the folder of shard n's objects of part (claims, progress,
// results, done): the prefix to list for n's range. Under layout 0 it is
// the part's one folder for every shard.
func (l Layout) SpreadDir(part string, n int) string {
	if l.Version >= LayoutSpread {
		return l.prefix() + "/" + SpreadPrefix(n) + "/" + part + "/"
	}
	return l.prefix() + "/" + part + "/"
}

// numbered is the key of shard n's object under dir: shard numbers are
// zero-padded to six digits so that keys sort by number (the scanner lists
// ranges of shards by StartAfter).
func (l Layout) numbered(dir string, n int) string {
	return fmt.Sprintf("%s%06d.json", l.SpreadDir(dir, n), n)
}

// Prefix is runs/<id>/.
func (l Layout) Prefix() string { return l.prefix() + "/" }

// Run is the plan: runs/<id>/run.json (written last, once).
func (l Layout) Run() string { return l.prefix() + "/run.json" }

// ShardsPrefix is where the shard files live.
func (l Layout) ShardsPrefix() string { return l.prefix() + "/shards/" }

// Shard holds the items of shard n.
func (l Layout) Shard(n int) string { return fmt.Sprintf("%s/shards/%06d.jsonl", l.prefix(), n) }

// ClaimsPrefix, ProgressPrefix and DonePrefix are where the shard leases,
// checkpoints and done markers live under layout 0; a spread layout has
// one folder per range instead (SpreadDir).

// ClaimsPrefix is where the shard leases live (layout 0).
func (l Layout) ClaimsPrefix() string { return l.prefix() + "/claims/" }

// Claim is the lease of shard n.
func (l Layout) Claim(n int) string { return l.numbered("claims", n) }

// ProgressPrefix is where the shard checkpoints live.
func (l Layout) ProgressPrefix() string { return l.prefix() + "/progress/" }

// Progress is the checkpoint of shard n.
func (l Layout) Progress(n int) string { return l.numbered("progress", n) }

// Results are the final results of shard n written under lease epoch e.
func (l Layout) Results(n int, epoch int64) string {
	return fmt.Sprintf("%s%06d-e%s.jsonl", l.SpreadDir("results", n), n, strconv.FormatInt(epoch, 10))
}

// DonePrefix is where the write-once shard markers live.
func (l Layout) DonePrefix() string { return l.prefix() + "/done/" }

// Done is the write-once completion marker of shard n.
func (l Layout) Done(n int) string { return l.numbered("done", n) }

// Requested records that the run was started (write-once).
func (l Layout) Requested() string { return l.prefix() + "/requested.json" }

// BadLines lists the first malformed manifest lines of the plan.
func (l Layout) BadLines() string { return l.prefix() + "/bad-lines.txt" }

// Finalizer is the lease of the one child building the reports.
func (l Layout) Finalizer() string { return l.prefix() + "/finalizer.json" }

// Final is the write-once marker of the finalized run (also the event outbox).
func (l Layout) Final() string { return l.prefix() + "/final.json" }

// Report is the S3 Batch Operations style completion report.
func (l Layout) Report() string { return l.prefix() + "/report.csv" }

// Failed is the manifest of failed items (S3 Batch Operations CSV).
func (l Layout) Failed() string { return l.prefix() + "/failed.csv" }

// Remaining is the manifest (S3 Batch Operations CSV) of the items of a run
// ended early (cancelled, tolerance, workers failed) that never ran.
func (l Layout) Remaining() string { return l.prefix() + "/remaining.csv" }

// Control is the run's control object: cancel, pause or resume, written by
// the CLI and read by the children between items.
func (l Layout) Control() string { return l.prefix() + "/control.json" }

// Summary is the JSON summary of the finished run.
func (l Layout) Summary() string { return l.prefix() + "/summary.json" }

// Picture is picture.jsonl: per source, the outputs written and the
// <picture> they make (chosen formats, keys, sizes).
func (l Layout) Picture() string { return l.prefix() + "/picture.jsonl" }

// HTML is the self-contained report page beside report.csv.
func (l Layout) HTML() string { return l.prefix() + "/report.html" }

// CatalogPrefix is where the run's catalog lives (one Parquet table: the
// LOCATION of its Athena table).
func (l Layout) CatalogPrefix() string { return l.prefix() + "/catalog/" }

// CatalogPart is part n of the catalog: catalog/part-0000.parquet, ...
func (l Layout) CatalogPart(n int) string {
	return fmt.Sprintf("%s/catalog/part-%04d.parquet", l.prefix(), n)
}

// ScheduleWatermark is the last scheduled time of the schedule name:
// schedules/<name>/watermark.json.
func ScheduleWatermark(name string) string { return SchedulesPrefix + name + "/watermark.json" }

// TokenRunID is the run id of a client token: a client token has no object
// of its own; it names its run, so a repeated submit with the same token
// finds Layout{RunID: TokenRunID(token)}.Run() (written once).
func TokenRunID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "t-" + hex.EncodeToString(sum[:8])
}
