package manifest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/imgbatch/imgbatch"
)

// DefaultDedupeMemory is the memory budget of Dedupe when given 0.
const DefaultDedupeMemory = 32 << 20

const (
	dedupeParts    = 64 // partitions of the first pass
	dedupeSubParts = 16 // partitions of an overflowing partition
	dedupeMaxLevel = 14 // 6 + 14*4 bits of the 64-bit hash
)

// DedupeReader drops repeated items (same bucket, key and version ID) from a
// Reader, in bounded memory and disk-backed. See Dedupe.
type DedupeReader struct {
	in  Reader
	dir string // where to make the temporary directory
	mem int

	tmp   string
	err   error // sticky: EOF or fatal
	items int64
	dups  int64

	// first pass: spill
	spilling bool
	parts    []*spillFile
	bufSize  int
	scratch  []byte

	// second pass
	pending []pendingPart // a stack; the top is processed next
	table   dedupeTable
	arena   []byte // unique records of the current partition, in first-seen order
	pos     int    // next record of arena to yield
	bucket  string

	// conflicts, when set, reports duplicates whose records differ beyond
	// their id (KeyIndex: one output key, two sources).
	conflicts *conflictSink
	splits    int // partitions that overflowed the budget (tests)
}

type spillFile struct {
	f     *os.File
	w     *bufio.Writer
	count int64
}

type pendingPart struct {
	path  string
	level int
	count int64
}

// Dedupe returns a Reader of the items of r with duplicates (same bucket, key
// and version ID; the first occurrence is kept) dropped and counted in
// Stats.Duplicates. *LineErrors of r are passed through as they come.
//
// It reads all of r on the first call to Next, spilling items to temporary
// files under dir ("" = os.TempDir()) partitioned by a hash of their
// identity, then dedupes each partition in memory. Its own memory is bounded
// by about mem bytes (0 = DefaultDedupeMemory, at least 16 KiB): a partition
// whose distinct items do not fit is split again by further bits of the hash.
// With the default, a process deduping 10 M keys peaks at about 75 MB RSS.
// The disk it uses is about the size of the items (bucket + key + version ID
// + ETag + a few bytes each), twice that for a partition being split.
//
// The order of the items changes (grouped by hash partition, first
// occurrence order within one) but is the same for the same input and mem.
// Close removes the temporary files; it does not close r.
func Dedupe(r Reader, dir string, mem int) *DedupeReader {
	if mem <= 0 {
		mem = DefaultDedupeMemory
	}
	mem = min(max(mem, 16<<10), 1<<31) // arena offsets are uint32
	return &DedupeReader{in: r, dir: dir, mem: mem}
}

// Stats returns the counts of the underlying Reader with Items and
// Duplicates of the deduped stream.
func (d *DedupeReader) Stats() Stats {
	s := StatsOf(d.in)
	s.Items = d.items
	s.Duplicates += d.dups
	return s
}

// Close removes the temporary files.
func (d *DedupeReader) Close() error {
	for _, p := range d.parts {
		if p != nil {
			p.f.Close()
		}
	}
	d.parts = nil
	if d.err == nil {
		d.err = errors.New("manifest: dedupe reader closed")
	}
	if d.tmp == "" {
		return nil
	}
	err := os.RemoveAll(d.tmp)
	d.tmp = ""
	return err
}

func (d *DedupeReader) fail(err error) (imgbatch.Item, error) {
	if d.err == nil {
		d.err = err
	}
	return imgbatch.Item{}, d.err
}

// Next returns the next distinct item.
func (d *DedupeReader) Next() (imgbatch.Item, error) {
	if d.err != nil {
		return imgbatch.Item{}, d.err
	}
	if d.tmp == "" {
		if err := d.start(); err != nil {
			return d.fail(err)
		}
	}
	if d.spilling {
		for {
			it, err := d.in.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				if IsLineError(err) {
					return imgbatch.Item{}, err
				}
				return d.fail(err)
			}
			if err := d.spill(it); err != nil {
				return d.fail(err)
			}
		}
		if err := d.endSpill(); err != nil {
			return d.fail(err)
		}
	}
	for d.pos >= len(d.arena) {
		if len(d.pending) == 0 {
			d.arena, d.table = nil, dedupeTable{}
			return d.fail(io.EOF)
		}
		if err := d.load(); err != nil {
			return d.fail(err)
		}
	}
	it, n := d.decode(d.arena[d.pos:])
	d.pos += n
	d.items++
	return it, nil
}

func (d *DedupeReader) start() error {
	tmp, err := os.MkdirTemp(d.dir, "imgbatch-dedupe-")
	if err != nil {
		return fmt.Errorf("manifest: dedupe: %w", err)
	}
	d.tmp = tmp
	d.bufSize = min(max(d.mem/8/dedupeParts, 4<<10), 64<<10)
	d.parts = make([]*spillFile, dedupeParts) // files are made on first use
	d.spilling = true
	return nil
}

// encode appends the spill record of it: uvarint(len id) uvarint(len rest)
// id rest, where id is bucket, key and version ID and rest size and ETag,
// strings length-prefixed. It returns the record and its id.
func encode(buf []byte, it imgbatch.Item) (rec, id []byte) {
	var tmp [3 * binary.MaxVarintLen64]byte
	idLen := uvarintLen(len(it.Bucket)) + len(it.Bucket) + uvarintLen(len(it.Key)) + len(it.Key) + uvarintLen(len(it.VersionID)) + len(it.VersionID)
	restLen := binary.PutVarint(tmp[:], it.Size) + uvarintLen(len(it.ETag)) + len(it.ETag)
	buf = binary.AppendUvarint(buf[:0], uint64(idLen))
	buf = binary.AppendUvarint(buf, uint64(restLen))
	start := len(buf)
	for _, s := range []string{it.Bucket, it.Key, it.VersionID} {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	id = buf[start:]
	buf = binary.AppendVarint(buf, it.Size)
	buf = binary.AppendUvarint(buf, uint64(len(it.ETag)))
	buf = append(buf, it.ETag...)
	return buf, id
}

func uvarintLen(n int) int {
	var tmp [binary.MaxVarintLen64]byte
	return binary.PutUvarint(tmp[:], uint64(n))
}

// hashID is FNV-1a 64 finished with the murmur3 mixer, so that every bit
// of it is usable for partitioning. It is fixed, so output is deterministic.
func hashID(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb3fe1a85ec53
	h ^= h >> 33
	return h
}

// partOf is the partition of h at level (0 = the first pass).
func partOf(h uint64, level int) int {
	if level == 0 {
		return int(h >> 58)
	}
	return int(h>>(58-4*level)) & (dedupeSubParts - 1)
}

func (d *DedupeReader) spill(it imgbatch.Item) error {
	rec, id := encode(d.scratch, it)
	d.scratch = rec
	return d.spillTo(partOf(hashID(id), 0), rec)
}

// spillTo appends rec to first-pass partition i.
func (d *DedupeReader) spillTo(i int, rec []byte) error {
	p := d.parts[i]
	if p == nil {
		f, err := os.Create(filepath.Join(d.tmp, fmt.Sprintf("%02x", i)))
		if err != nil {
			return fmt.Errorf("manifest: dedupe: %w", err)
		}
		p = &spillFile{f: f, w: bufio.NewWriterSize(f, d.bufSize)}
		d.parts[i] = p
	}
	p.count++
	if _, err := p.w.Write(rec); err != nil {
		return fmt.Errorf("manifest: dedupe: %w", err)
	}
	return nil
}

func (d *DedupeReader) endSpill() error {
	d.spilling = false
	// Pushed in reverse so that partition 0 is on top of the stack.
	for i := len(d.parts) - 1; i >= 0; i-- {
		p := d.parts[i]
		if p == nil {
			continue
		}
		err := p.w.Flush()
		if cerr := p.f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("manifest: dedupe: %w", err)
		}
		d.pending = append(d.pending, pendingPart{path: p.f.Name(), count: p.count})
	}
	d.parts = nil
	return nil
}

// load pops the next partition and dedupes it into the arena; a partition
// whose distinct records do not fit in memory is split instead.
func (d *DedupeReader) load() error {
	p := d.pending[len(d.pending)-1]
	d.pending = d.pending[:len(d.pending)-1]
	d.pos = 0
	arenaCap := d.mem * 3 / 4
	if d.arena == nil {
		d.arena = make([]byte, 0, arenaCap) // pages become resident only as used
	}
	d.arena = d.arena[:0]
	d.table.reset()
	maxSlots := floorPow2((d.mem - arenaCap) / 12)
	limitless := p.level >= dedupeMaxLevel

	var dups int64
	d.conflicts.begin()
	full, err := d.eachRecord(p, func(rec, id []byte) bool {
		h := hashID(id)
		if kept := d.table.find(h, id, d.arena); kept >= 0 {
			dups++
			d.conflicts.check(d.arena[kept:], rec)
			return true
		}
		if !limitless && (len(d.arena)+len(rec) > arenaCap || d.table.full(maxSlots)) {
			return false
		}
		d.table.insert(h, len(d.arena))
		d.arena = append(d.arena, rec...)
		return true
	})
	if err != nil {
		return err
	}
	if full {
		d.arena = d.arena[:0]
		return d.split(p)
	}
	d.dups += dups
	d.conflicts.commit()
	os.Remove(p.path)
	return nil
}

// eachRecord calls fn with every record of partition p, in order, until fn
// returns false; stopped reports that it did. rec is valid until fn returns.
func (d *DedupeReader) eachRecord(p pendingPart, fn func(rec, id []byte) bool) (stopped bool, err error) {
	f, err := os.Open(p.path)
	if err != nil {
		return false, fmt.Errorf("manifest: dedupe: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	for {
		rec, id, err := readRecord(br, d.scratch)
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("manifest: dedupe: %s: %w", p.path, err)
		}
		d.scratch = rec
		if !fn(rec, id) {
			return true, nil
		}
	}
}

// split spreads partition p over dedupeSubParts files by the next bits of
// the hash and pushes them.
func (d *DedupeReader) split(p pendingPart) error {
	d.splits++
	level := p.level + 1
	subs := make([]*spillFile, dedupeSubParts)
	defer func() {
		for _, s := range subs {
			if s != nil {
				s.f.Close()
			}
		}
	}()
	var werr error
	_, err := d.eachRecord(p, func(rec, id []byte) bool {
		i := partOf(hashID(id), level)
		s := subs[i]
		if s == nil {
			sf, err := os.Create(fmt.Sprintf("%s.%x", p.path, i))
			if err != nil {
				werr = err
				return false
			}
			s = &spillFile{f: sf, w: bufio.NewWriterSize(sf, d.bufSize)}
			subs[i] = s
		}
		s.count++
		_, werr = s.w.Write(rec)
		return werr == nil
	})
	if err != nil {
		return err
	}
	if werr != nil {
		return fmt.Errorf("manifest: dedupe: %w", werr)
	}
	for i := len(subs) - 1; i >= 0; i-- {
		s := subs[i]
		if s == nil {
			continue
		}
		if err := s.w.Flush(); err != nil {
			return fmt.Errorf("manifest: dedupe: %w", err)
		}
		d.pending = append(d.pending, pendingPart{path: s.f.Name(), level: level, count: s.count})
	}
	os.Remove(p.path)
	return nil
}

// readRecord reads one spill record into buf.
func readRecord(br *bufio.Reader, buf []byte) (rec, id []byte, err error) {
	idLen, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, nil, err
	}
	restLen, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, nil, io.ErrUnexpectedEOF
	}
	if idLen > 1<<20 || restLen > 1<<20 {
		return nil, nil, errors.New("corrupt spill file")
	}
	buf = binary.AppendUvarint(buf[:0], idLen)
	buf = binary.AppendUvarint(buf, restLen)
	start := len(buf)
	n := start + int(idLen) + int(restLen)
	if cap(buf) < n {
		buf = append(buf, make([]byte, n-len(buf))...)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(br, buf[start:]); err != nil {
		return nil, nil, io.ErrUnexpectedEOF
	}
	return buf, buf[start : start+int(idLen)], nil
}

// recordID returns the id of the record at the start of b.
func recordID(b []byte) []byte {
	idLen, n1 := binary.Uvarint(b)
	_, n2 := binary.Uvarint(b[n1:])
	start := n1 + n2
	return b[start : start+int(idLen)]
}

// decode turns the record at the start of b into an item; n is its length.
func (d *DedupeReader) decode(b []byte) (it imgbatch.Item, n int) {
	return decodeItem(b, &d.bucket)
}

// decodeItem turns the record at the start of b into an item; n is its
// length. *bucket is the last bucket decoded, reused while it repeats.
func decodeItem(b []byte, bucket *string) (it imgbatch.Item, n int) {
	idLen, n1 := binary.Uvarint(b)
	restLen, n2 := binary.Uvarint(b[n1:])
	p := n1 + n2
	n = p + int(idLen) + int(restLen)
	str := func() []byte {
		l, k := binary.Uvarint(b[p:])
		s := b[p+k : p+k+int(l)]
		p += k + int(l)
		return s
	}
	if bb := str(); string(bb) != *bucket {
		*bucket = string(bb)
	}
	it.Bucket = *bucket
	it.Key = string(str())
	it.VersionID = string(str())
	size, k := binary.Varint(b[p:])
	p += k
	it.Size = size
	it.ETag = string(str())
	return it, n
}

// dedupeTable is an open-addressing set of record ids stored in the arena:
// 12 bytes a slot, no pointers for the GC to scan.
type dedupeTable struct {
	hashes []uint64
	offs   []uint32 // arena offset + 1; 0 = empty
	n      int
}

func (t *dedupeTable) reset() {
	clear(t.hashes)
	clear(t.offs)
	t.n = 0
}

// full reports that one more insertion would need more than maxSlots.
func (t *dedupeTable) full(maxSlots int) bool {
	return (t.n+1)*4 > maxSlots*3
}

// find is the arena offset of the record with this id, or -1.
func (t *dedupeTable) find(h uint64, id, arena []byte) int {
	if len(t.offs) == 0 {
		return -1
	}
	mask := uint64(len(t.offs) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		o := t.offs[i]
		if o == 0 {
			return -1
		}
		if t.hashes[i] == h && string(recordID(arena[o-1:])) == string(id) {
			return int(o - 1)
		}
	}
}

// insert adds the record that is about to be appended at arena[off:].
func (t *dedupeTable) insert(h uint64, off int) {
	if (t.n+1)*4 > len(t.offs)*3 {
		t.grow()
	}
	mask := uint64(len(t.offs) - 1)
	i := h & mask
	for t.offs[i] != 0 {
		i = (i + 1) & mask
	}
	t.hashes[i], t.offs[i] = h, uint32(off+1)
	t.n++
}

func (t *dedupeTable) grow() {
	n := max(len(t.offs)*2, 1024)
	oh, oo := t.hashes, t.offs
	t.hashes, t.offs = make([]uint64, n), make([]uint32, n)
	mask := uint64(n - 1)
	for j, o := range oo {
		if o == 0 {
			continue
		}
		i := oh[j] & mask
		for t.offs[i] != 0 {
			i = (i + 1) & mask
		}
		t.hashes[i], t.offs[i] = oh[j], o
	}
}

// floorPow2 is the largest power of two <= n, at least 1024.
func floorPow2(n int) int {
	p := 1024
	for p*2 <= n {
		p <<= 1
	}
	return p
}
