// Package manifest reads the lists of objects that users bring, as a stream
// of imgbatch.Items in constant memory whatever the size of the list.
//
// Formats (Options.Format, or detected by Open):
//
//   - keys: one raw key per line; the bucket is Options.DefaultBucket unless
//     the line is itself s3://bucket/key. Blank lines and lines starting with
//     '#' are skipped.
//   - csv: S3 Batch Operations CSV, bucket,key[,versionId], no header, keys
//     URL-encoded (form encoding: '+' is a space, %2B a plus).
//   - jsonl: one JSON object per line: {"bucket","key","versionId","size",
//     "etag","lastModified"}; bucket may be left to Options.DefaultBucket.
//   - inventory: an S3 Inventory manifest.json (CSV inventories only); its
//     gzip-compressed data files are streamed one after another.
//   - listing: a live ListObjectsV2 listing of s3://bucket/prefix, page by page.
//
// Every text format tolerates a UTF-8 BOM at the start, CRLF line ends and a
// gzip-compressed file (detected by its magic bytes). A malformed line is
// returned as a *LineError by Next; the caller counts it and keeps calling
// Next. Any other error is fatal and Next returns it again on every later call.
//
// Every Reader returned by Open and Dedupe also has a Stats method (see
// StatsOf); the counts satisfy Lines == Items + BadLines + Filtered +
// Duplicates once the stream is drained.
package manifest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/s3err"
)

// Reader streams the items of a manifest. Next returns io.EOF at the end, a
// *LineError for a malformed line (keep calling Next), or a fatal error.
type Reader interface {
	Next() (imgbatch.Item, error)
}

// Stats counts what a Reader has seen so far. Lines counts records (text
// lines that are neither blank nor comments, inventory rows, listed
// objects); each of them ends up in exactly one of Items (returned by Next),
// BadLines (returned as a *LineError), Filtered (dropped by the Filter, or
// skipped as an inventory delete marker, a non-current version or a
// "folder/" placeholder) or Duplicates (dropped by Dedupe).
type Stats struct {
	Lines      int64 `json:"lines"`
	Items      int64 `json:"items"`
	BadLines   int64 `json:"badLines"`
	Filtered   int64 `json:"filtered"`
	Duplicates int64 `json:"duplicates"`
}

// StatsOf returns r's counts; every Reader of this package has them, any
// other Reader gives zero Stats.
func StatsOf(r Reader) Stats {
	if s, ok := r.(interface{ Stats() Stats }); ok {
		return s.Stats()
	}
	return Stats{}
}

// LineError is a malformed line. It is not fatal: count it and call Next again.
type LineError struct {
	Source string // the manifest, or the inventory data file, as given or as s3://bucket/key
	Line   int64  // 1-based physical line number in Source
	Text   string // the line, truncated to about 200 bytes
	Reason string
}

func (e *LineError) Error() string {
	return fmt.Sprintf("%s:%d: %s: %q", e.Source, e.Line, e.Reason, e.Text)
}

// IsLineError reports whether err is (or wraps) a *LineError.
func IsLineError(err error) bool {
	var le *LineError
	return errors.As(err, &le)
}

// Format names a manifest format.
type Format string

const (
	Detect    Format = ""          // detect from the URI, the name and the content
	Keys      Format = "keys"      // one key per line
	CSV       Format = "csv"       // S3 Batch Operations CSV
	JSONL     Format = "jsonl"     // one JSON object per line
	Inventory Format = "inventory" // S3 Inventory manifest.json (CSV)
	Listing   Format = "listing"   // live listing of s3://bucket/prefix
)

// Filter drops items; dropped items are counted in Stats.Filtered, not errors.
// A zero Filter keeps everything.
type Filter struct {
	// Extensions keeps keys ending in "." + one of these, case-insensitively
	// ("jpg", ".JPG" and "tar.gz" all work). Empty keeps every key.
	Extensions []string
	// MinSize and MaxSize (0 = no limit) bound the object size, in bytes.
	// They apply only where the manifest gives sizes: listing, inventory with
	// a Size column, jsonl lines with "size". Items of unknown size are kept.
	MinSize, MaxSize int64
	// ModifiedSince keeps objects last modified at or after it. It applies
	// only where the manifest gives the time: listing, inventory with a
	// LastModifiedDate column, jsonl lines with "lastModified".
	ModifiedSince time.Time
}

// Options configure Open.
type Options struct {
	// Format forces a format; Detect ("") guesses it: an s3:// URI with no
	// key, a key ending in '/', or a key with no object (but objects under it
	// as a prefix) is a listing; a file named manifest.json, or whose content
	// is a JSON object with "files" or "sourceBucket", is an inventory;
	// *.jsonl and *.ndjson are jsonl; *.csv is csv (a trailing .gz is ignored
	// for naming); other content starting with '{' is jsonl; anything else is
	// keys.
	Format Format
	// DefaultBucket is the bucket of key-list lines and of jsonl lines that
	// have no bucket.
	DefaultBucket string
	// S3 reads s3:// manifests, inventory data files and listings
	// (*s3.Client, or an s3region.Router for buckets in other regions).
	S3 S3API
	// SourceOwner (x-amz-expected-bucket-owner) and SourceRequesterPays
	// (x-amz-request-payer: requester) go with every request of a listing:
	// a listed bucket is the run's source bucket. Manifest objects and
	// inventory files are read without them (they live in a bucket of
	// their own, usually the account's).
	SourceOwner         string
	SourceRequesterPays bool
	// Filter is applied by every format.
	Filter Filter
	// ListPageSize is the MaxKeys of each ListObjectsV2 page (0 = 1000).
	ListPageSize int32
}

// S3API is the part of the S3 client that reads manifests (*s3.Client).
type S3API interface {
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// Open opens a manifest: a local path, "-" for standard input, s3://bucket/key
// for a manifest stored in S3, or s3://bucket/prefix/ for a live listing.
// Formats whose source is a single stream are read from it as they go; the
// returned Closer releases it (and is the Reader itself; closing twice is
// harmless). Open fails fast on what it can check up front: a missing file,
// an unreadable or unsupported inventory, a missing S3 client.
func Open(ctx context.Context, uri string, opt Options) (Reader, io.Closer, error) {
	f, err := opt.Filter.compile()
	if err != nil {
		return nil, nil, err
	}
	switch opt.Format {
	case Detect, Keys, CSV, JSONL, Inventory, Listing:
	default:
		return nil, nil, fmt.Errorf("manifest: unknown format %q (want keys, csv, jsonl, inventory or listing)", opt.Format)
	}
	r := &reader{ctx: ctx, filter: f}
	src, closer, err := openSource(ctx, uri, opt)
	if err != nil {
		return nil, nil, err
	}
	r.src, r.closer = src, closer
	return r, r, nil
}

func openSource(ctx context.Context, uri string, opt Options) (source, io.Closer, error) {
	if bucket, key, ok := parseS3URI(uri); ok {
		if opt.S3 == nil {
			return nil, nil, fmt.Errorf("manifest: %s: an S3 client is needed (Options.S3)", uri)
		}
		if bucket == "" {
			return nil, nil, fmt.Errorf("manifest: %s: no bucket", uri)
		}
		if opt.Format == Listing || (opt.Format == Detect && (key == "" || strings.HasSuffix(key, "/"))) {
			return newListing(ctx, opt, bucket, key, false)
		}
		body, err := openS3Object(ctx, opt.S3, bucket, key)
		if err != nil {
			if opt.Format == Detect && s3err.IsNoSuchKey(err) {
				// No such object: a prefix, if anything is under it.
				return newListing(ctx, opt, bucket, key, true)
			}
			return nil, nil, fmt.Errorf("manifest: %s: %w", uri, err)
		}
		loc := location{s3: opt.S3, bucket: bucket, key: key}
		return openStream(ctx, uri, key, body, loc, opt)
	}
	if opt.Format == Listing {
		return nil, nil, fmt.Errorf("manifest: %s: a listing needs an s3://bucket/prefix/ URI", uri)
	}
	if uri == "-" {
		return openStream(ctx, "-", "", io.NopCloser(os.Stdin), location{}, opt)
	}
	fh, err := os.Open(uri)
	if err != nil {
		return nil, nil, fmt.Errorf("manifest: %w", err)
	}
	if st, err := fh.Stat(); err == nil && st.IsDir() {
		fh.Close()
		return nil, nil, fmt.Errorf("manifest: %s is a directory", uri)
	}
	return openStream(ctx, uri, uri, fh, location{local: uri}, opt)
}

// location is where a manifest came from, to find inventory data files.
type location struct {
	local       string // path of a local manifest
	s3          S3API
	bucket, key string
}

// openStream detects the format of a single-stream manifest and starts it.
func openStream(ctx context.Context, source, name string, rc io.ReadCloser, loc location, opt Options) (src source, closer io.Closer, err error) {
	defer func() {
		if err != nil {
			rc.Close()
		}
	}()
	br, gz, err := maybeGunzip(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("manifest: %s: %w", source, err)
	}
	closer = rc
	if gz != nil {
		closer = multiCloser{gz, rc}
	}
	format := opt.Format
	if format == Detect {
		format = detect(name, br)
	}
	lr := newLineReader(source, br)
	switch format {
	case Keys:
		return &keysSource{lr: lr, bucket: opt.DefaultBucket}, closer, nil
	case CSV:
		return &csvSource{lr: lr}, closer, nil
	case JSONL:
		return &jsonlSource{lr: lr, bucket: opt.DefaultBucket}, closer, nil
	case Inventory:
		src, err := newInventory(ctx, source, br, loc)
		if err != nil {
			return nil, nil, err
		}
		closer.Close() // manifest.json is read whole; the source opens data files itself
		return src, src, nil
	}
	return nil, nil, fmt.Errorf("manifest: %s: format %q cannot be read from a file", source, format)
}

// detect guesses the format of a stream from its name and its first bytes.
func detect(name string, br *bufio.Reader) Format {
	base := strings.ToLower(path.Base(strings.ReplaceAll(name, `\`, "/")))
	base = strings.TrimSuffix(base, ".gz")
	switch {
	case base == "manifest.json":
		return Inventory
	case strings.HasSuffix(base, ".jsonl"), strings.HasSuffix(base, ".ndjson"):
		return JSONL
	case strings.HasSuffix(base, ".csv"):
		return CSV
	}
	head, _ := br.Peek(sniffSize)
	head = bytes.TrimPrefix(head, utf8BOM)
	head = bytes.TrimLeft(head, " \t\r\n")
	if len(head) == 0 || head[0] != '{' {
		return Keys
	}
	if looksLikeInventory(head) {
		return Inventory
	}
	return JSONL
}

const sniffSize = 64 << 10

// looksLikeInventory scans the top-level keys of the JSON object at the start
// of head (which may be cut short) for the keys of an inventory manifest.
func looksLikeInventory(head []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(head))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return false
		}
		k, _ := t.(string)
		if k == "files" || k == "sourceBucket" || k == "fileSchema" {
			return true
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return false
		}
	}
	return false
}

// record is one entry of a source, with what the filter may need.
type record struct {
	item     imgbatch.Item
	hasSize  bool
	modified time.Time // zero if unknown
}

// source yields records: nil, io.EOF, a *LineError, errSkip (a record the
// format itself drops: counted as Filtered) or a fatal error.
type source interface {
	next(r *record) error
}

var errSkip = errors.New("skip")

// reader applies the filter and counts; it is what Open returns.
type reader struct {
	ctx    context.Context
	src    source
	closer io.Closer
	filter *filter
	stats  Stats
	err    error // sticky: EOF or fatal
	n      int
	rec    record
}

func (r *reader) Next() (imgbatch.Item, error) {
	if r.err != nil {
		return imgbatch.Item{}, r.err
	}
	for {
		if r.n++; r.n&1023 == 0 && r.ctx != nil {
			if err := r.ctx.Err(); err != nil {
				r.err = err
				return imgbatch.Item{}, err
			}
		}
		r.rec = record{}
		err := r.src.next(&r.rec)
		switch {
		case err == nil:
			r.stats.Lines++
			if !r.filter.keep(&r.rec) {
				r.stats.Filtered++
				continue
			}
			r.stats.Items++
			return r.rec.item, nil
		case err == errSkip:
			r.stats.Lines++
			r.stats.Filtered++
			continue
		}
		var le *LineError
		if errors.As(err, &le) {
			r.stats.Lines++
			r.stats.BadLines++
			return imgbatch.Item{}, err
		}
		r.err = err
		return imgbatch.Item{}, err
	}
}

// Stats returns the counts so far.
func (r *reader) Stats() Stats { return r.stats }

// Close releases the manifest; Next then fails.
func (r *reader) Close() error {
	if r.closer == nil {
		return nil
	}
	c := r.closer
	r.closer = nil
	if r.err == nil {
		r.err = errors.New("manifest: reader closed")
	}
	return c.Close()
}

type multiCloser []io.Closer

func (m multiCloser) Close() error {
	var errs []error
	for _, c := range m {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// --- shared validation -------------------------------------------------------

const maxKeyLen = 1024 // bytes, S3's limit

// checkKey validates a (decoded) key; "" means fine.
func checkKey(key string) string {
	switch {
	case key == "":
		return "empty key"
	case len(key) > maxKeyLen:
		return fmt.Sprintf("key is %d bytes long (S3 allows %d)", len(key), maxKeyLen)
	case !utf8.ValidString(key):
		return "key is not valid UTF-8"
	}
	return ""
}

// checkBucket is lenient (legacy us-east-1 names allow capitals and '_'), but
// rejects what cannot be a bucket: empty, too long, spaces, slashes, etc.
func checkBucket(b string) string {
	if b == "" {
		return "empty bucket"
	}
	if len(b) > 255 {
		return "bucket name too long"
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return "invalid bucket name"
		}
	}
	return ""
}

// hasControl reports ASCII control characters (including DEL).
func hasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

// trimETag drops the quotes S3 puts around ETags, so every format gives the
// same form.
func trimETag(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// parseS3URI splits s3://bucket/key; ok is false for anything else.
func parseS3URI(uri string) (bucket, key string, ok bool) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	if !ok {
		return "", "", false
	}
	bucket, key, _ = strings.Cut(rest, "/")
	return bucket, key, true
}
