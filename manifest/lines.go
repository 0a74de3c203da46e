package manifest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

const (
	// maxLine bounds a line (and the memory of a reader). A URL-encoded
	// 1024-byte key is at most 3072 bytes, a JSON-escaped one 6144.
	maxLine = 64 << 10
	maxText = 200 // bytes of a bad line kept in LineError.Text
)

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// maybeGunzip returns a buffered reader of r's content, decompressed if it
// starts with the gzip magic. gz, if not nil, must be closed.
func maybeGunzip(r io.Reader) (br *bufio.Reader, gz *gzip.Reader, err error) {
	br = bufio.NewReaderSize(r, maxLine)
	magic, err := br.Peek(2)
	if err != nil && err != io.EOF {
		return nil, nil, err
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err = gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		br = bufio.NewReaderSize(gz, maxLine)
	}
	return br, gz, nil
}

// lineReader splits a stream into lines in bounded memory: it drops a BOM at
// the start, the '\n' and a '\r' before it, and cuts lines longer than
// maxLine (returning their start with tooLong set).
type lineReader struct {
	source string
	br     *bufio.Reader
	line   int64 // number of the line last returned
	long   []byte
}

func newLineReader(source string, br *bufio.Reader) *lineReader {
	return &lineReader{source: source, br: br}
}

// next returns the next line; it is valid until the following call. err is
// io.EOF at the end or a read error.
func (l *lineReader) next() (line []byte, tooLong bool, err error) {
	b, err := l.br.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull:
		l.long = append(l.long[:0], b[:maxText]...)
		for err == bufio.ErrBufferFull {
			_, err = l.br.ReadSlice('\n')
		}
		if err != nil && err != io.EOF {
			return nil, false, err
		}
		l.line++
		return l.long, true, nil
	case err == io.EOF:
		if len(b) == 0 {
			return nil, false, io.EOF
		}
	case err != nil:
		return nil, false, err
	}
	l.line++
	if l.line == 1 {
		b = bytes.TrimPrefix(b, utf8BOM)
	}
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b, false, nil
}

// nextLine is next with a line over maxLine returned as its *LineError.
func (l *lineReader) nextLine() ([]byte, error) {
	line, long, err := l.next()
	if err == nil && long {
		return nil, l.tooLong(line)
	}
	return line, err
}

// lineError builds a *LineError for the current line.
func (l *lineReader) lineError(text []byte, reason string, args ...any) *LineError {
	if len(args) > 0 {
		reason = fmt.Sprintf(reason, args...)
	}
	return &LineError{Source: l.source, Line: l.line, Text: truncate(text), Reason: reason}
}

// tooLong is the LineError of a line over maxLine.
func (l *lineReader) tooLong(text []byte) *LineError {
	return l.lineError(text, "line longer than %d bytes", maxLine)
}

// truncate keeps about maxText bytes of b, cut at a UTF-8 boundary.
func truncate(b []byte) string {
	if len(b) <= maxText {
		return string(b)
	}
	n := maxText
	for n > maxText-utf8.UTFMax && !utf8.RuneStart(b[n]) {
		n--
	}
	return string(b[:n]) + "…"
}

// blank reports a line of only spaces and tabs.
func blank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}

var (
	errBareQuote = errors.New(`bare " in non-quoted field`)
	errQuote     = errors.New(`extraneous or missing " in quoted field`)
)

// splitCSV splits one line into RFC 4180 fields, with the semantics of
// encoding/csv for a line (Comma ',', no LazyQuotes, no TrimLeadingSpace).
// Records never span lines here: manifest keys are URL-encoded, so a quoted
// field left open at the end of the line is an error (with encoding/csv it
// would swallow the rest of the file). Fields alias line or buf; buf is
// returned for reuse.
func splitCSV(line []byte, fields [][]byte, buf []byte) ([][]byte, []byte, error) {
	fields = fields[:0]
	buf = buf[:0]
	// Fields are first recorded as [start,end) offsets into buf, since buf may
	// move while it grows.
	type span struct{ s, e int }
	var spans [8]span
	sp := spans[:0]
	i := 0
	for {
		if i < len(line) && line[i] == '"' {
			i++
			s := len(buf)
			for {
				j := bytes.IndexByte(line[i:], '"')
				if j < 0 {
					return nil, buf, errQuote
				}
				buf = append(buf, line[i:i+j]...)
				i += j + 1
				if i < len(line) && line[i] == '"' { // "" is a quote
					buf = append(buf, '"')
					i++
					continue
				}
				break
			}
			sp = append(sp, span{s, len(buf)})
			if i == len(line) {
				break
			}
			if line[i] != ',' {
				return nil, buf, errQuote
			}
			i++
			continue
		}
		j := bytes.IndexByte(line[i:], ',')
		f := line[i:]
		if j >= 0 {
			f = line[i : i+j]
		}
		if bytes.IndexByte(f, '"') >= 0 {
			return nil, buf, errBareQuote
		}
		s := len(buf)
		buf = append(buf, f...)
		sp = append(sp, span{s, len(buf)})
		if j < 0 {
			break
		}
		i += j + 1
	}
	for _, s := range sp {
		fields = append(fields, buf[s.s:s.e:s.e])
	}
	return fields, buf, nil
}
