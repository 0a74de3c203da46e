package batch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/testutil/itemtest"
)

// twins are 40 items of which 5 pairs share a name and differ in extension.
func twins() []imgbatch.Item {
	its := numberedItems("k/%05d.jpg", 30)
	for i := range 5 {
		its = append(its, imgbatch.Item{Bucket: "src", Key: fmt.Sprintf("k/%05d.png", i*3), Size: 1000})
	}
	return its
}

// TestPlanRefusesCollisionsBeforeAnyShard: under the legacy layout,
// k/00000.jpg and k/00000.png both make thumb/k/00000.jpg; the plan names
// both, counts all five, and writes nothing; the check runs on a 16 KiB
// budget so its partitions spill.
func TestPlanRefusesCollisionsBeforeAnyShard(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	o := planOpts()
	o.OutputKey, o.DedupeDir, o.DedupeMemory = imgbatch.LegacyOutputKey, t.TempDir(), 16<<10
	_, err := s.PlanRun(ctx, itemtest.NewSource(twins()...), o)
	var ce *CollisionError
	if !errors.As(err, &ce) {
		t.Fatalf("plan: %v, want a CollisionError", err)
	}
	// Two variants: each pair collides once per variant.
	if ce.Count != 10 || !strings.Contains(err.Error(), "thumb/k/00000.jpg ← s3://src/k/00000.jpg and s3://src/k/00000.png") {
		t.Errorf("count %d, message:\n%v", ce.Count, err)
	}
	n := 0
	if err := s.List(ctx, "", func(string, int64) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("a refused plan wrote %d objects", n)
	}
	// A dry run shows them instead; allow plans them.
	o.DryRun = true
	p := mustPlan(t, s, itemtest.NewSource(twins()...), o)
	if p.Collisions.Count != 10 || len(p.Collisions.Sample) != 10 || p.Run.Items != 35 {
		t.Errorf("dry run: %+v, %d items", p.Collisions, p.Run.Items)
	}
	o.DryRun, o.OnCollision = false, CollisionAllow
	p = mustPlan(t, s, itemtest.NewSource(twins()...), o)
	if p.Collisions.Count != 10 || p.Run.Items != 35 || p.Run.OutputKey != imgbatch.LegacyOutputKey {
		t.Errorf("allow: %+v, %d items, template %q", p.Collisions, p.Run.Items, p.Run.OutputKey)
	}
}

// TestPlanDefaultTemplateKeepsTwinsApart: the default template is stored
// in run.json and finds no collision; every item is planned, in order.
func TestPlanDefaultTemplateKeepsTwinsApart(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	p := mustPlan(t, s, itemtest.NewSource(twins()...), planOpts())
	if p.Collisions.Count != 0 || p.Run.Items != 35 {
		t.Fatalf("plan: %+v, %d items", p.Collisions, p.Run.Items)
	}
	run, err := s.LoadRun(ctx, p.Run.ID)
	if err != nil || run.OutputKey != imgbatch.DefaultOutputKey {
		t.Fatalf("run.json outputKey %q (%v)", run.OutputKey, err)
	}
	sh, err := s.LoadShard(ctx, p.Run.ID, 0)
	if err != nil || len(sh) == 0 || sh[0] != twins()[0] {
		t.Fatalf("first shard %v (%v): items not spooled back in order", sh, err)
	}
}

func TestPlanOutputKeyUsageErrors(t *testing.T) {
	for _, c := range []struct{ tmpl, on, want string }{
		{"{key}.{outext}", "", "no {variant}"},
		{"{variant}/{nope}", "", "unknown placeholder"},
		{"", "ignore", "--on-collision"},
	} {
		o := planOpts()
		o.OutputKey, o.OnCollision = c.tmpl, c.on
		_, err := newStore(t).PlanRun(context.Background(), itemtest.NewSource(items(3)...), o)
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q %q: %v, want a UsageError with %q", c.tmpl, c.on, err, c.want)
		}
	}
}

// TestPlanCollisionsOverAutoCandidates: an auto variant may write any of
// its candidates, so every candidate's key is checked: under the legacy
// layout x.jpg and x.gif share both pic/k/x.webp and pic/k/x.png (two
// collisions, where the first candidate alone would show one); the
// default template keeps them apart.
func TestPlanCollisionsOverAutoCandidates(t *testing.T) {
	ctx := context.Background()
	o := planOpts()
	o.Recipe = imgbatch.Recipe{Name: "auto", Variants: []imgbatch.Variant{
		{Name: "pic", Width: 100, Format: imgbatch.FormatAuto, Formats: []string{"webp", "png"}, KeepSmallerSource: true}}}
	its := []imgbatch.Item{{Bucket: "src", Key: "k/x.jpg"}, {Bucket: "src", Key: "k/x.gif"}, {Bucket: "src", Key: "k/y.jpg"}}
	o.OutputKey = imgbatch.LegacyOutputKey
	_, err := newStore(t).PlanRun(ctx, itemtest.NewSource(its...), o)
	var ce *CollisionError
	if !errors.As(err, &ce) || ce.Count != 2 {
		t.Fatalf("plan: %v, want a CollisionError of 2", err)
	}
	for _, k := range []string{"pic/k/x.webp ← s3://src/k/x.jpg and s3://src/k/x.gif", "pic/k/x.png ← s3://src/k/x.jpg and s3://src/k/x.gif"} {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("message does not name %q:\n%v", k, err)
		}
	}
	o.OutputKey = imgbatch.DefaultOutputKey
	if p := mustPlan(t, newStore(t), itemtest.NewSource(its...), o); p.Collisions.Count != 0 || p.Run.Items != 3 {
		t.Errorf("default template: %+v, %d items", p.Collisions, p.Run.Items)
	}
}
