package imgbatch

import "testing"

// TestLayout pins every key of README's "S3 layout of a run": they are
// the format of runs already in work buckets, so none may change.
func TestLayout(t *testing.T) {
	l := Layout{RunID: "r1"}
	for _, c := range []struct{ name, got, want string }{
		{"Prefix", l.Prefix(), "runs/r1/"},
		{"Run", l.Run(), "runs/r1/run.json"},
		{"ShardsPrefix", l.ShardsPrefix(), "runs/r1/shards/"},
		{"Shard", l.Shard(7), "runs/r1/shards/000007.jsonl"},
		{"ClaimsPrefix", l.ClaimsPrefix(), "runs/r1/claims/"},
		{"Claim", l.Claim(7), "runs/r1/claims/000007.json"},
		{"ProgressPrefix", l.ProgressPrefix(), "runs/r1/progress/"},
		{"Progress", l.Progress(7), "runs/r1/progress/000007.json"},
		{"Results", l.Results(7, 3), "runs/r1/results/000007-e3.jsonl"},
		{"DonePrefix", l.DonePrefix(), "runs/r1/done/"},
		{"Done", l.Done(7), "runs/r1/done/000007.json"},
		{"Done large", l.Done(1234567), "runs/r1/done/1234567.json"},
		{"Requested", l.Requested(), "runs/r1/requested.json"},
		{"BadLines", l.BadLines(), "runs/r1/bad-lines.txt"},
		{"Finalizer", l.Finalizer(), "runs/r1/finalizer.json"},
		{"Final", l.Final(), "runs/r1/final.json"},
		{"Report", l.Report(), "runs/r1/report.csv"},
		{"Failed", l.Failed(), "runs/r1/failed.csv"},
		{"Summary", l.Summary(), "runs/r1/summary.json"},
		{"HTML", l.HTML(), "runs/r1/report.html"},
		{"Picture", l.Picture(), "runs/r1/picture.jsonl"},
		{"CatalogPrefix", l.CatalogPrefix(), "runs/r1/catalog/"},
		{"CatalogPart", l.CatalogPart(0), "runs/r1/catalog/part-0000.parquet"},
		{"CatalogPart 12345", l.CatalogPart(12345), "runs/r1/catalog/part-12345.parquet"},
		{"ScheduleWatermark", ScheduleWatermark("nightly"), "schedules/nightly/watermark.json"},
		{"token's run", Layout{RunID: TokenRunID("abc")}.Run(), "runs/t-ba7816bf8f01cfea/run.json"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	// Every key of a run lies under its prefix, which lies under RunsPrefix.
	if p := l.Prefix(); p[:len(RunsPrefix)] != RunsPrefix {
		t.Errorf("Prefix %q not under %q", p, RunsPrefix)
	}
}

// TestLayoutSpread pins the spread layout (run.json "layout": 1): the
// shard-numbered objects of each range of SpreadRange shards under their
// own two hex digits, everything else where layout 0 has it.
func TestLayoutSpread(t *testing.T) {
	l := LayoutOf(&Run{ID: "r1", Layout: LayoutSpread})
	for _, c := range []struct{ name, got, want string }{
		{"Claim 7", l.Claim(7), "runs/r1/00/claims/000007.json"},
		{"Progress 999", l.Progress(999), "runs/r1/00/progress/000999.json"},
		{"Done 1000", l.Done(1000), "runs/r1/80/done/001000.json"},
		{"Results 2500", l.Results(2500, 3), "runs/r1/40/results/002500-e3.jsonl"},
		{"Done 3000", l.Done(3000), "runs/r1/c0/done/003000.json"},
		{"Claim 256000 (range 256 wraps to 00)", l.Claim(256000), "runs/r1/00/claims/256000.json"},
		{"SpreadDir", l.SpreadDir("done", 1999), "runs/r1/80/done/"},
		{"Run", l.Run(), "runs/r1/run.json"},
		{"Shard", l.Shard(1000), "runs/r1/shards/001000.jsonl"},
		{"layout 0 SpreadDir", Layout{RunID: "r1"}.SpreadDir("done", 1999), "runs/r1/done/"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	// The first 16 ranges start with 16 different hex digits.
	first := map[byte]bool{}
	for k := 0; k < 16; k++ {
		first[SpreadPrefix(k * SpreadRange)[0]] = true
	}
	if len(first) != 16 {
		t.Errorf("the first 16 ranges start with %d different digits, want 16", len(first))
	}
}
