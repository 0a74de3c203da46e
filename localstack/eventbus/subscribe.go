package eventbus

import (
	"context"
	"encoding/json"
	"errors"
	"sync"

	"github.com/imgbatch/imgbatch/eventbridge"
)

// subscriber feeds one Subscribe channel from an unbounded queue, so a slow
// reader never stalls the bus.
type subscriber struct {
	m      *matcher
	mu     sync.Mutex
	queue  []eventbridge.Envelope
	wake   chan struct{}
	done   chan struct{}
	out    chan eventbridge.Envelope
	closer sync.Once
}

func (s *subscriber) push(e eventbridge.Envelope) {
	s.mu.Lock()
	s.queue = append(s.queue, e)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *subscriber) stop() { s.closer.Do(func() { close(s.done) }) }

func (s *subscriber) run() {
	defer close(s.out)
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.mu.Unlock()
			select {
			case <-s.wake:
				continue
			case <-s.done:
				return
			}
		}
		e := s.queue[0]
		s.queue = s.queue[1:]
		s.mu.Unlock()
		select {
		case s.out <- e:
		case <-s.done:
			return
		}
	}
}

// Subscribe streams the events accepted from now on that match pattern (an
// EventBridge event pattern, on any bus), e.g. Pattern("", runID, "Run
// Completed", "Run Failed"). cancel ends the subscription and closes the
// channel; Close closes it too. An invalid pattern is a programming error
// and panics.
func (b *Bus) Subscribe(pattern string) (<-chan eventbridge.Envelope, func()) {
	b.init()
	m, err := newMatcher(pattern)
	if err != nil {
		panic("eventbridge: Subscribe: " + err.Error())
	}
	s := &subscriber{m: m, wake: make(chan struct{}, 1), done: make(chan struct{}), out: make(chan eventbridge.Envelope)}
	go s.run()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		s.stop()
		return s.out, func() {}
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s.out, func() {
		b.mu.Lock()
		delete(b.subs, s)
		b.mu.Unlock()
		s.stop()
	}
}

// WaitFor returns the first event matching pattern, including one accepted
// before the call, or ctx's error.
func (b *Bus) WaitFor(ctx context.Context, pattern string) (eventbridge.Envelope, error) {
	ch, cancel := b.Subscribe(pattern) // subscribe first: nothing slips between
	defer cancel()
	m, _ := newMatcher(pattern)
	for _, e := range b.Events() {
		if raw, err := json.Marshal(e); err == nil && m.match(raw) {
			return e, nil
		}
	}
	select {
	case e, ok := <-ch:
		if !ok {
			return eventbridge.Envelope{}, errors.New("eventbridge: bus closed")
		}
		return e, nil
	case <-ctx.Done():
		return eventbridge.Envelope{}, ctx.Err()
	}
}
