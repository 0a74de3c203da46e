package eventbus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"quamina.net/go/quamina"
)

// Target is where a rule sends matching events. Invoke receives the target
// input: the whole event (as JSON), or what Input, InputPath or
// InputPathsMap+InputTemplate make of it (see the input transformation notes
// in transform.go; only one of Input, InputPath and InputTemplate may be
// set).
type Target struct {
	ID            string
	InputPathsMap map[string]string // variable name → JSON path ($.detail.runId)
	InputTemplate string            // with <name> placeholders
	InputPath     string            // JSON path of the part of the event to send
	Input         string            // constant JSON sent instead of the event
	Invoke        func(ctx context.Context, input []byte) error
	// RetryAttempts is how many times a failed Invoke is retried (the
	// target's RetryPolicy.MaximumRetryAttempts). 0 takes the bus default;
	// < 0 means no retry.
	RetryAttempts int
	// MaxEventAge stops retrying once the event is this old
	// (RetryPolicy.MaximumEventAgeInSeconds). 0 takes the bus default.
	MaxEventAge time.Duration
}

// Rule routes the events of one bus that match Pattern (EventBridge event
// pattern JSON, matched with quamina) to Targets.
type Rule struct {
	Name     string
	EventBus string // name or ARN; "" is the default bus, as in EventBridge
	Pattern  string
	Targets  []Target
}

// rule is an added Rule, compiled.
type rule struct {
	Rule
	bus     string
	arn     string
	m       *matcher
	targets []compiledTarget
}

type compiledTarget struct {
	Target
	tr *transformer
}

// matcher is one quamina instance; MatchesForEvent is not safe for
// concurrent use on one instance, hence the lock.
type matcher struct {
	mu sync.Mutex
	q  *quamina.Quamina
}

func newMatcher(pattern string) (*matcher, error) {
	q, err := quamina.New()
	if err != nil {
		return nil, err
	}
	if err := q.AddPattern(1, pattern); err != nil {
		return nil, fmt.Errorf("invalid event pattern %s: %w", pattern, err)
	}
	return &matcher{q: q}, nil
}

func (m *matcher) match(event []byte) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	xs, err := m.q.MatchesForEvent(event)
	return err == nil && len(xs) > 0
}

// busName turns a bus name or ARN into a name; "" is the default bus.
func busName(s string) string {
	if i := strings.LastIndex(s, ":event-bus/"); strings.HasPrefix(s, "arn:") && i >= 0 {
		s = s[i+len(":event-bus/"):]
	}
	if s == "" {
		return DefaultBus
	}
	return s
}

// AddRule adds r, or replaces the rule of the same name on the same bus
// (PutRule + PutTargets). The pattern and every target's input configuration
// are checked here, as EventBridge does.
func (b *Bus) AddRule(r Rule) error {
	b.init()
	if r.Name == "" {
		return errors.New("eventbridge: rule without a name")
	}
	m, err := newMatcher(r.Pattern)
	if err != nil {
		return fmt.Errorf("eventbridge: rule %s: %w", r.Name, err)
	}
	cr := &rule{Rule: r, bus: busName(r.EventBus), m: m}
	if cr.bus == DefaultBus {
		cr.arn = fmt.Sprintf("arn:aws:events:%s:%s:rule/%s", b.cfg.Region, b.cfg.Account, r.Name)
	} else {
		cr.arn = fmt.Sprintf("arn:aws:events:%s:%s:rule/%s/%s", b.cfg.Region, b.cfg.Account, cr.bus, r.Name)
	}
	seen := map[string]bool{}
	for _, t := range r.Targets {
		if t.ID == "" || seen[t.ID] {
			return fmt.Errorf("eventbridge: rule %s: target id %q is empty or repeated", r.Name, t.ID)
		}
		seen[t.ID] = true
		if t.Invoke == nil {
			return fmt.Errorf("eventbridge: rule %s target %s: no Invoke", r.Name, t.ID)
		}
		tr, err := compileTarget(t)
		if err != nil {
			return fmt.Errorf("eventbridge: rule %s target %s: %w", r.Name, t.ID, err)
		}
		cr.targets = append(cr.targets, compiledTarget{Target: t, tr: tr})
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, old := range b.rules {
		if old.Name == r.Name && old.bus == cr.bus {
			b.rules[i] = cr
			return nil
		}
	}
	b.rules = append(b.rules, cr)
	return nil
}

// RemoveRule removes the rule name of bus ("" is the default bus) and
// reports whether there was one.
func (b *Bus) RemoveRule(bus, name string) bool {
	b.init()
	bus = busName(bus)
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, r := range b.rules {
		if r.Name == name && r.bus == bus {
			b.rules = append(b.rules[:i], b.rules[i+1:]...)
			return true
		}
	}
	return false
}
