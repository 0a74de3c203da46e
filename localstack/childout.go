package localstack

import (
	"bytes"
	"io"
	"sync"
)

// lastLine keeps the last complete non-empty line written to it (up to
// 2 KiB): a child's last words.
type lastLine struct {
	mu   sync.Mutex
	cur  []byte // the line being written
	last []byte
}

func (l *lastLine) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for rest := p; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			l.cur = appendCapped(l.cur, rest)
			break
		}
		l.cur = appendCapped(l.cur, rest[:i])
		if len(bytes.TrimSpace(l.cur)) > 0 {
			l.last = append(l.last[:0], l.cur...)
		}
		l.cur = l.cur[:0]
		rest = rest[i+1:]
	}
	return len(p), nil
}

func appendCapped(b, p []byte) []byte {
	return append(b, p[:min(len(p), max(0, 2048-len(b)))]...)
}

func (l *lastLine) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(bytes.TrimSpace(l.cur)) > 0 {
		return string(l.cur)
	}
	return string(l.last)
}

// bestEffort writes to w and reports success whatever happens: a child's
// log file that cannot be written (disk full) does not stop the copies of
// its output that still can.
type bestEffort struct{ w io.Writer }

func (b bestEffort) Write(p []byte) (int, error) {
	_, _ = b.w.Write(p)
	return len(p), nil
}
