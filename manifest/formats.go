package manifest

import (
	"bytes"
	"encoding/json"
	"net/url"
	"time"
)

// keysSource reads one raw key per line.
type keysSource struct {
	lr     *lineReader
	bucket string
}

func (s *keysSource) next(r *record) error {
	for {
		line, err := s.lr.nextLine()
		if err != nil {
			return err
		}
		if blank(line) || line[0] == '#' {
			continue
		}
		if hasControl(line) {
			return s.lr.lineError(line, "control character in key")
		}
		bucket, key := s.bucket, ""
		if rest, ok := bytes.CutPrefix(line, []byte("s3://")); ok {
			b, k, found := bytes.Cut(rest, []byte("/"))
			if !found {
				return s.lr.lineError(line, "s3:// URI without a key")
			}
			if s.bucket != "" && string(b) == s.bucket {
				bucket = s.bucket
			} else {
				bucket = string(b)
			}
			key = string(k)
		} else {
			if bucket == "" {
				return s.lr.lineError(line, "no bucket: set a default bucket or write s3://bucket/key")
			}
			key = string(line)
		}
		if msg := checkBucket(bucket); msg != "" {
			return s.lr.lineError(line, msg)
		}
		if msg := checkKey(key); msg != "" {
			return s.lr.lineError(line, msg)
		}
		r.item.Bucket, r.item.Key = bucket, key
		return nil
	}
}

// csvSource reads S3 Batch Operations CSV: bucket,key[,versionId], keys
// URL-encoded.
type csvSource struct {
	lr     *lineReader
	fields [][]byte
	buf    []byte
	bucket string // last bucket, reused to spare an allocation per line
}

func (s *csvSource) next(r *record) error {
	for {
		line, err := s.lr.nextLine()
		if err != nil {
			return err
		}
		if len(line) == 0 {
			continue // encoding/csv skips empty lines too
		}
		if hasControl(line) {
			return s.lr.lineError(line, "control character in line (keys must be URL-encoded)")
		}
		s.fields, s.buf, err = splitCSV(line, s.fields, s.buf)
		if err != nil {
			return s.lr.lineError(line, err.Error())
		}
		if n := len(s.fields); n < 2 || n > 3 {
			return s.lr.lineError(line, "%d fields, want bucket,key[,versionId]", n)
		}
		bucket := s.internBucket(s.fields[0])
		if msg := checkBucket(bucket); msg != "" {
			return s.lr.lineError(line, msg)
		}
		key, msg := decodeKey(s.fields[1])
		if msg != "" {
			return s.lr.lineError(line, msg)
		}
		r.item.Bucket, r.item.Key = bucket, key
		if len(s.fields) == 3 {
			r.item.VersionID = unquoteFormula(string(s.fields[2]))
		}
		return nil
	}
}

func (s *csvSource) internBucket(b []byte) string {
	if string(b) != s.bucket { // no allocation
		s.bucket = string(b)
	}
	return s.bucket
}

// decodeKey URL-decodes a key the way S3 Batch Operations and S3 Inventory
// encode it (form encoding, as url.QueryUnescape: '+' is a space) and
// validates it; the second result is the reason it is bad.
func decodeKey(b []byte) (string, string) {
	if len(b) == 0 {
		return "", "empty key"
	}
	var key string
	if bytes.IndexByte(b, '%') < 0 && bytes.IndexByte(b, '+') < 0 {
		key = string(b)
	} else {
		var buf [maxKeyLen]byte
		d, err := formDecode(buf[:0], b)
		if err != nil {
			return "", "bad URL encoding in key: " + err.Error()
		}
		key = string(d)
	}
	return key, checkKey(key)
}

// formDecode appends the form-decoded src to dst; it accepts and rejects
// what url.QueryUnescape does, without its per-byte string building.
func formDecode(dst, src []byte) ([]byte, error) {
	for i := 0; i < len(src); i++ {
		switch c := src[i]; c {
		case '+':
			dst = append(dst, ' ')
		case '%':
			if i+2 >= len(src) || !isHex(src[i+1]) || !isHex(src[i+2]) {
				return nil, url.EscapeError(src[i:min(i+3, len(src))])
			}
			dst = append(dst, unhex(src[i+1])<<4|unhex(src[i+2]))
			i += 2
		default:
			dst = append(dst, c)
		}
	}
	return dst, nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// jsonlSource reads one JSON object per line.
type jsonlSource struct {
	lr     *lineReader
	bucket string
}

type jsonLine struct {
	Bucket       string     `json:"bucket"`
	Key          *string    `json:"key"`
	VersionID    string     `json:"versionId"`
	Size         *int64     `json:"size"`
	ETag         string     `json:"etag"`
	LastModified *time.Time `json:"lastModified"`
}

func (s *jsonlSource) next(r *record) error {
	for {
		line, err := s.lr.nextLine()
		if err != nil {
			return err
		}
		if blank(line) {
			continue
		}
		var j jsonLine
		if err := json.Unmarshal(line, &j); err != nil {
			return s.lr.lineError(line, "bad JSON: %v", err)
		}
		if j.Key == nil {
			return s.lr.lineError(line, `no "key"`)
		}
		if j.Bucket == "" {
			j.Bucket = s.bucket
			if j.Bucket == "" {
				return s.lr.lineError(line, `no "bucket" and no default bucket`)
			}
		}
		if msg := checkBucket(j.Bucket); msg != "" {
			return s.lr.lineError(line, msg)
		}
		if msg := checkKey(*j.Key); msg != "" {
			return s.lr.lineError(line, msg)
		}
		if j.Size != nil {
			if *j.Size < 0 {
				return s.lr.lineError(line, "negative size")
			}
			r.item.Size, r.hasSize = *j.Size, true
		}
		if j.LastModified != nil {
			r.modified = *j.LastModified
		}
		r.item.Bucket, r.item.Key, r.item.VersionID, r.item.ETag = j.Bucket, *j.Key, j.VersionID, trimETag(j.ETag)
		return nil
	}
}
