package manifest

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"github.com/imgbatch/imgbatch"
)

// Collision is two sources whose items map to one output key.
type Collision struct {
	Key    string // the output key
	First  string // the source seen first (s3://bucket/key)
	Second string // a later source that maps to the same key
}

// KeyIndex finds every output key claimed by more than one source, in
// bounded memory: it is Dedupe's machinery with the output key as the
// record's id and the source as the rest of the record. Keys are spilled to
// temporary files partitioned by a hash of the key (so all claims of one
// key meet in one partition), then each partition is grouped in memory;
// one that does not fit is split by further bits of the hash. Memory is
// about mem bytes whatever the number of keys; disk about the size of the
// keys and sources.
//
// Add every (key, source) pair, then call Collisions once. The same source
// claiming a key twice (a repeated manifest line, two versions of a key) is
// no collision.
type KeyIndex struct {
	d    *DedupeReader
	sink conflictSink
	err  error
}

// NewKeyIndex makes an index under dir ("" = os.TempDir()) with a memory
// budget of mem bytes (0 = DefaultDedupeMemory) that keeps the first
// sample collisions it finds.
func NewKeyIndex(dir string, mem, sample int) *KeyIndex {
	x := &KeyIndex{d: Dedupe(nil, dir, mem)}
	x.sink.limit = sample
	x.d.conflicts = &x.sink
	return x
}

// Add records that source claims output key.
func (x *KeyIndex) Add(key, source string) error {
	if x.err != nil {
		return x.err
	}
	if x.d.tmp == "" {
		if x.err = x.d.start(); x.err != nil {
			return x.err
		}
	}
	// The record's id is (bucket "", key, version ""); the source rides
	// in the ETag, compared when two records share an id.
	x.err = x.d.spill(imgbatch.Item{Key: key, ETag: source})
	return x.err
}

// Collisions groups the claims by key and returns how many claims met a
// key already claimed by another source, and the first of them (up to the
// sample size). The order of the sample is that of the hash partitions,
// the same for the same input and budget.
func (x *KeyIndex) Collisions() (int64, []Collision, error) {
	if x.err != nil {
		return 0, nil, x.err
	}
	if x.d.tmp == "" {
		return 0, nil, nil // nothing added
	}
	if err := x.d.endSpill(); err != nil {
		return 0, nil, err
	}
	for {
		_, err := x.d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, nil, err
		}
	}
	return x.sink.count, x.sink.sample, nil
}

// Close removes the temporary files.
func (x *KeyIndex) Close() error { return x.d.Close() }

// conflictSink collects the duplicates of one partition whose records
// differ beyond their id, and keeps them only once the partition is done:
// a partition that overflows is split and read again, and must not report
// twice. A nil sink does nothing (plain Dedupe).
type conflictSink struct {
	limit  int
	count  int64
	sample []Collision

	pending      int64
	pendingFirst []Collision
	bucket       string
}

func (c *conflictSink) begin() {
	if c != nil {
		c.pending, c.pendingFirst = 0, c.pendingFirst[:0]
	}
}

// check compares the kept record (at the start of kept) with rec.
func (c *conflictSink) check(kept, rec []byte) {
	if c == nil {
		return
	}
	a, _ := decodeItem(kept, &c.bucket)
	b, _ := decodeItem(rec, &c.bucket)
	if a.ETag == b.ETag {
		return
	}
	c.pending++
	if len(c.sample)+len(c.pendingFirst) < c.limit {
		c.pendingFirst = append(c.pendingFirst, Collision{Key: a.Key, First: a.ETag, Second: b.ETag})
	}
}

func (c *conflictSink) commit() {
	if c == nil {
		return
	}
	c.count += c.pending
	c.sample = append(c.sample, c.pendingFirst...)
	c.pending, c.pendingFirst = 0, nil
}

// Spool holds items in a temporary file so they can be read again: the
// plan reads the manifest once, checking it and spooling it, and writes
// shards from the spool only once the check passed. Memory is a write
// buffer; disk about the size of the items.
type Spool struct {
	d     *DedupeReader // its temporary directory and record encoding
	items int64
	file  *spillFile
	err   error
}

// NewSpool makes a spool under dir ("" = os.TempDir()).
func NewSpool(dir string) *Spool { return &Spool{d: Dedupe(nil, dir, 0)} }

// Add appends it.
func (s *Spool) Add(it imgbatch.Item) error {
	if s.err != nil {
		return s.err
	}
	if s.d.tmp == "" {
		if s.err = s.d.start(); s.err != nil {
			return s.err
		}
	}
	rec, _ := encode(s.d.scratch, it)
	s.d.scratch = rec
	s.err = s.d.spillTo(0, rec)
	if s.err == nil {
		s.items++
	}
	return s.err
}

// Reader returns a Reader of the items added, in order. Add no more.
func (s *Spool) Reader() (Reader, error) {
	if s.err != nil {
		return nil, s.err
	}
	if s.d.tmp == "" {
		return &spoolReader{}, nil
	}
	if err := s.d.endSpill(); err != nil {
		return nil, err
	}
	return &spoolReader{d: s.d, stats: Stats{Items: s.items}}, nil
}

// Close removes the temporary file.
func (s *Spool) Close() error { return s.d.Close() }

// spoolReader reads a spool back: its one partition file, in order.
type spoolReader struct {
	d      *DedupeReader
	stats  Stats
	f      *os.File
	br     *bufio.Reader
	buf    []byte
	bucket string
}

func (r *spoolReader) Stats() Stats { return r.stats }

func (r *spoolReader) Next() (imgbatch.Item, error) {
	if r.d == nil || len(r.d.pending) == 0 {
		return imgbatch.Item{}, io.EOF
	}
	if r.f == nil {
		f, err := os.Open(r.d.pending[0].path)
		if err != nil {
			return imgbatch.Item{}, fmt.Errorf("manifest: spool: %w", err)
		}
		r.f, r.br = f, bufio.NewReaderSize(f, 64<<10)
		r.d.parts = []*spillFile{{f: f}} // closed by the spool's Close
	}
	rec, _, err := readRecord(r.br, r.buf)
	if err == io.EOF {
		return imgbatch.Item{}, io.EOF
	}
	if err != nil {
		return imgbatch.Item{}, fmt.Errorf("manifest: spool: %w", err)
	}
	r.buf = rec
	it, _ := decodeItem(rec, &r.bucket)
	return it, nil
}
