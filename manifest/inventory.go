package manifest

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// inventoryManifest is an S3 Inventory manifest.json.
type inventoryManifest struct {
	SourceBucket      string `json:"sourceBucket"`
	DestinationBucket string `json:"destinationBucket"`
	FileFormat        string `json:"fileFormat"`
	FileSchema        string `json:"fileSchema"`
	Files             []struct {
		Key  string `json:"key"`
		Size int64  `json:"size"`
		MD5  string `json:"MD5checksum"`
	} `json:"files"`
}

// inventoryFile is one data file to read.
type inventoryFile struct {
	name string // for messages: local path or s3://bucket/key
	open func() (io.ReadCloser, error)
	size int64
	md5  string
}

// inventorySource streams the rows of the data files one file after another.
type inventorySource struct {
	source       string
	sourceBucket string
	col          struct{ bucket, key, version, latest, deleteMarker, size, modified, etag int }
	ncols        int
	files        []inventoryFile
	nextFile     int

	// the file being read
	cur    *inventoryFile
	raw    io.ReadCloser
	gz     io.Closer
	tee    io.Reader
	sum    hash.Hash
	count  int64
	lr     *lineReader
	fields [][]byte
	buf    []byte
	bucket string
}

const maxInventoryManifest = 64 << 20

func newInventory(ctx context.Context, source string, r io.Reader, loc location) (*inventorySource, error) {
	var m inventoryManifest
	dec := json.NewDecoder(io.LimitReader(r, maxInventoryManifest))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest: %s: not an S3 Inventory manifest.json: %w", source, err)
	}
	if m.Files == nil {
		return nil, fmt.Errorf("manifest: %s: not an S3 Inventory manifest.json: no \"files\"", source)
	}
	switch strings.ToUpper(m.FileFormat) {
	case "CSV", "":
	case "ORC", "PARQUET":
		return nil, fmt.Errorf("manifest: %s: inventory fileFormat %s is not supported yet; configure the inventory report as CSV", source, m.FileFormat)
	default:
		return nil, fmt.Errorf("manifest: %s: unknown inventory fileFormat %q", source, m.FileFormat)
	}
	s := &inventorySource{source: source, sourceBucket: m.SourceBucket}
	if err := s.parseSchema(m.FileSchema); err != nil {
		return nil, fmt.Errorf("manifest: %s: %w", source, err)
	}
	if s.col.bucket < 0 {
		if msg := checkBucket(m.SourceBucket); msg != "" {
			return nil, fmt.Errorf("manifest: %s: no Bucket column and sourceBucket %q: %s", source, m.SourceBucket, msg)
		}
	}

	switch {
	case loc.s3 != nil:
		dest := destinationBucket(m.DestinationBucket, loc.bucket)
		for _, f := range m.Files {
			bucket, key := dest, f.Key
			s.files = append(s.files, inventoryFile{
				name: "s3://" + bucket + "/" + key,
				size: f.Size,
				md5:  f.MD5,
				open: func() (io.ReadCloser, error) {
					o, err := openS3Object(ctx, loc.s3, bucket, key)
					if err != nil {
						return nil, err
					}
					return o, nil
				},
			})
		}
	case loc.local != "":
		dir := filepath.Dir(loc.local)
		for _, f := range m.Files {
			p, err := findLocal(dir, f.Key)
			if err != nil {
				return nil, fmt.Errorf("manifest: %s: %w", source, err)
			}
			s.files = append(s.files, inventoryFile{
				name: p,
				size: f.Size,
				md5:  f.MD5,
				open: func() (io.ReadCloser, error) { return os.Open(p) },
			})
		}
	default:
		if len(m.Files) > 0 {
			return nil, fmt.Errorf("manifest: %s: an inventory read from standard input cannot locate its data files", source)
		}
	}
	return s, nil
}

// parseSchema maps the columns of fileSchema, e.g. "Bucket, Key, VersionId,
// IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag".
func (s *inventorySource) parseSchema(schema string) error {
	c := &s.col
	*c = struct{ bucket, key, version, latest, deleteMarker, size, modified, etag int }{-1, -1, -1, -1, -1, -1, -1, -1}
	cols := strings.Split(schema, ",")
	for i, name := range cols {
		p, ok := map[string]*int{
			"bucket": &c.bucket, "key": &c.key, "versionid": &c.version,
			"islatest": &c.latest, "isdeletemarker": &c.deleteMarker, "size": &c.size,
			"lastmodifieddate": &c.modified, "etag": &c.etag,
		}[strings.ToLower(strings.TrimSpace(name))]
		if !ok {
			continue
		}
		if *p >= 0 {
			return fmt.Errorf("column %q twice in fileSchema", strings.TrimSpace(name))
		}
		*p = i
	}
	if c.key < 0 {
		return fmt.Errorf("fileSchema %q has no Key column", schema)
	}
	s.ncols = len(cols)
	return nil
}

// findLocal finds the data file key of a local inventory: relative to the
// manifest's directory, or to one of its parents (the layout of a synced
// destination bucket: <root>/<key> with the manifest at
// <root>/<prefix>/<bucket>/<config>/<date>/manifest.json), or by its base name
// in the manifest's directory or in ../data.
func findLocal(dir, key string) (string, error) {
	rel := filepath.FromSlash(key)
	var tried []string
	try := func(p string) bool {
		tried = append(tried, p)
		st, err := os.Stat(p)
		return err == nil && !st.IsDir()
	}
	for d := dir; ; {
		if p := filepath.Join(d, rel); try(p) {
			return p, nil
		}
		parent := filepath.Dir(d)
		if parent == d || len(tried) > 32 {
			break
		}
		d = parent
	}
	base := filepath.Base(rel)
	for _, p := range []string{filepath.Join(dir, base), filepath.Join(dir, "data", base), filepath.Join(dir, "..", "data", base)} {
		if try(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("inventory data file %q not found next to the manifest (tried %s)", key, strings.Join(tried, ", "))
}

func (s *inventorySource) Close() error {
	return s.closeFile()
}

func (s *inventorySource) closeFile() error {
	var errs []error
	if s.gz != nil {
		errs = append(errs, s.gz.Close())
	}
	if s.raw != nil {
		errs = append(errs, s.raw.Close())
	}
	s.cur, s.raw, s.gz, s.lr = nil, nil, nil, nil
	return errors.Join(errs...)
}

func (s *inventorySource) openFile() error {
	f := &s.files[s.nextFile]
	s.nextFile++
	raw, err := f.open()
	if err != nil {
		return fmt.Errorf("manifest: inventory data file %s: %w", f.name, err)
	}
	s.cur, s.raw = f, raw
	s.sum = md5.New()
	s.count = 0
	s.tee = io.TeeReader(raw, countWriter{&s.count, s.sum})
	br, gz, err := maybeGunzip(s.tee)
	if err != nil {
		s.closeFile()
		return fmt.Errorf("manifest: inventory data file %s: %w", f.name, err)
	}
	if gz != nil {
		s.gz = gz
	}
	s.lr = newLineReader(f.name, br)
	return nil
}

// finishFile checks the size and MD5 the manifest gives for the file.
func (s *inventorySource) finishFile() error {
	f := s.cur
	if _, err := io.Copy(io.Discard, s.tee); err != nil {
		s.closeFile()
		return fmt.Errorf("manifest: inventory data file %s: %w", f.name, err)
	}
	err := s.closeFile()
	if err != nil {
		return fmt.Errorf("manifest: inventory data file %s: %w", f.name, err)
	}
	if f.size > 0 && s.count != f.size {
		return fmt.Errorf("manifest: inventory data file %s: %d bytes, the manifest says %d", f.name, s.count, f.size)
	}
	if f.md5 != "" {
		if got := hex.EncodeToString(s.sum.Sum(nil)); !strings.EqualFold(got, f.md5) {
			return fmt.Errorf("manifest: inventory data file %s: MD5 %s, the manifest says %s", f.name, got, f.md5)
		}
	}
	return nil
}

type countWriter struct {
	n *int64
	h hash.Hash
}

func (c countWriter) Write(p []byte) (int, error) {
	*c.n += int64(len(p))
	return c.h.Write(p)
}

func (s *inventorySource) next(r *record) error {
	for {
		if s.cur == nil {
			if s.nextFile >= len(s.files) {
				return io.EOF
			}
			if err := s.openFile(); err != nil {
				return err
			}
		}
		line, long, err := s.lr.next()
		if err == io.EOF {
			if err := s.finishFile(); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			name := s.cur.name
			s.closeFile()
			return fmt.Errorf("manifest: inventory data file %s: %w", name, err)
		}
		if long {
			return s.lr.tooLong(line)
		}
		if len(line) == 0 {
			continue
		}
		return s.row(r, line)
	}
}

func (s *inventorySource) row(r *record, line []byte) error {
	lr := s.lr
	if hasControl(line) {
		return lr.lineError(line, "control character in line")
	}
	var err error
	s.fields, s.buf, err = splitCSV(line, s.fields, s.buf)
	if err != nil {
		return lr.lineError(line, err.Error())
	}
	f := s.fields
	if len(f) != s.ncols {
		return lr.lineError(line, "%d fields, the fileSchema has %d", len(f), s.ncols)
	}
	c := &s.col
	if c.deleteMarker >= 0 && string(f[c.deleteMarker]) == "true" {
		return errSkip
	}
	if c.latest >= 0 && string(f[c.latest]) == "false" {
		return errSkip
	}
	bucket := s.sourceBucket
	if c.bucket >= 0 {
		if string(f[c.bucket]) != s.bucket {
			s.bucket = string(f[c.bucket])
		}
		bucket = s.bucket
		if msg := checkBucket(bucket); msg != "" {
			return lr.lineError(line, msg)
		}
	}
	key, msg := decodeKey(f[c.key])
	if msg != "" {
		return lr.lineError(line, msg)
	}
	if strings.HasSuffix(key, "/") {
		return errSkip // a "folder" placeholder
	}
	r.item.Bucket, r.item.Key = bucket, key
	if c.version >= 0 {
		r.item.VersionID = string(f[c.version])
	}
	if c.size >= 0 && len(f[c.size]) > 0 {
		n, err := strconv.ParseInt(string(f[c.size]), 10, 64)
		if err != nil || n < 0 {
			return lr.lineError(line, "bad Size %q", f[c.size])
		}
		r.item.Size, r.hasSize = n, true
	}
	if c.modified >= 0 && len(f[c.modified]) > 0 {
		t, err := time.Parse(time.RFC3339Nano, string(f[c.modified]))
		if err != nil {
			return lr.lineError(line, "bad LastModifiedDate %q", f[c.modified])
		}
		r.modified = t
	}
	if c.etag >= 0 {
		r.item.ETag = trimETag(string(f[c.etag]))
	}
	return nil
}
