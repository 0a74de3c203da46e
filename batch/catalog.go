package batch

import (
	"bufio"
	"context"
	"io"
	"os"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/catalog"
)

// ContentTypeParquet is the catalog parts' Content-Type.
const ContentTypeParquet = "application/vnd.apache.parquet"

// runCatalog is the run's catalog while the finalizer writes it: one
// Parquet row per result, in shard order, beside report.csv
// (runs/<id>/catalog/part-NNNN.parquet). Each part goes through a
// temporary file and is uploaded as soon as it is complete, so a run of
// any size holds one row group in memory and one part on disk. A finalizer
// that runs again writes the same parts over the same keys.
type runCatalog struct {
	runID string
	w     *catalog.Writer
	parts *catalogParts
}

func newRunCatalog(ctx context.Context, s *Store, run *imgbatch.Run) *runCatalog {
	parts := &catalogParts{ctx: ctx, s: s, lay: imgbatch.Layout{RunID: run.ID}}
	return &runCatalog{runID: run.ID, w: catalog.NewWriter(parts, catalogPartRows), parts: parts}
}

// catalogPartRows is catalog.PartRows; tests make it small.
var catalogPartRows = catalog.PartRows

// add writes the row of one result.
func (c *runCatalog) add(res imgbatch.Result) error { return c.w.Write(catalog.RowOf(c.runID, res)) }

// close uploads the last part.
func (c *runCatalog) close() error {
	_, _, err := c.w.Close()
	return err
}

// remove deletes a temporary file left by a failure.
func (c *runCatalog) remove() { c.parts.remove() }

// catalogParts are catalog.Parts in the work bucket.
type catalogParts struct {
	ctx context.Context
	s   *Store
	lay imgbatch.Layout
	f   *os.File
	b   *bufio.Writer
}

func (p *catalogParts) Create(int) (io.Writer, error) {
	f, err := os.CreateTemp("", "imgbatch-catalog-*.parquet")
	if err != nil {
		return nil, err
	}
	p.f, p.b = f, bufio.NewWriterSize(f, 1<<20)
	return p.b, nil
}

func (p *catalogParts) Done(n int) error {
	defer p.remove()
	if err := p.b.Flush(); err != nil {
		return err
	}
	return p.s.PutFile(p.ctx, p.lay.CatalogPart(n), p.f, ContentTypeParquet)
}

func (p *catalogParts) remove() {
	if p.f != nil {
		p.f.Close()
		os.Remove(p.f.Name())
		p.f = nil
	}
}
