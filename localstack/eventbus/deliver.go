package eventbus

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/imgbatch/imgbatch/eventbridge"
)

// route records accepted events, feeds subscriptions and starts the
// deliveries of matching rules. false if the bus is closed.
func (b *Bus) route(envs []eventbridge.Envelope) bool {
	if !b.acquire(1) { // holds Close off while deliveries are started
		return false
	}
	defer b.release()
	if len(envs) == 0 {
		return true
	}
	b.mu.Lock()
	rules := append([]*rule(nil), b.rules...)
	subs := make([]*subscriber, 0, len(b.subs))
	for s := range b.subs {
		subs = append(subs, s)
	}
	b.events = append(b.events, envs...)
	if keep := b.cfg.MaxEvents; keep > 0 && len(b.events) > keep {
		b.events = append([]eventbridge.Envelope(nil), b.events[len(b.events)-keep:]...)
	}
	b.mu.Unlock()

	ingested := time.Now().UTC()
	for _, env := range envs {
		raw, err := json.Marshal(env)
		if err != nil {
			b.cfg.Logger.Error("eventbridge: encode event", "id", env.ID, "err", err)
			continue
		}
		for _, s := range subs {
			if s.m.match(raw) {
				s.push(env)
			}
		}
		for _, r := range rules {
			if r.bus != env.EventBus || !r.m.match(raw) {
				continue
			}
			b.cfg.Logger.Debug("eventbridge: rule matched", "rule", r.Name, "bus", r.bus, "detailType", env.DetailType, "id", env.ID)
			for _, t := range r.targets {
				b.acquire(1) // cannot fail: we hold a token
				go b.deliver(r, t, env, raw, ingested)
			}
		}
	}
	return true
}

// deliver hands one event to one target, retrying with backoff until the
// target's retry attempts or maximum event age run out, then dead-letters it.
func (b *Bus) deliver(r *rule, t compiledTarget, env eventbridge.Envelope, raw []byte, ingested time.Time) {
	defer b.release()
	input, err := t.tr.apply(eventContext{raw: raw, ruleName: r.Name, ruleARN: r.arn, ingested: ingested.Format(eventbridge.EnvelopeTime)})
	if err != nil {
		b.deadLetter(DeadLetter{Rule: r.Name, Target: t.ID, Event: env, Err: fmt.Errorf("input transformation: %w", err)})
		return
	}
	retries := t.RetryAttempts
	if retries == 0 {
		retries = b.cfg.RetryAttempts
	}
	retries = max(retries, 0)
	maxAge := t.MaxEventAge
	if maxAge <= 0 {
		maxAge = b.cfg.MaxEventAge
	}
	policy := eventbridge.RetryPolicy{BaseDelay: b.cfg.RetryBaseDelay, MaxDelay: b.cfg.RetryMaxDelay}
	for attempt := 1; ; attempt++ {
		err = invoke(t.Invoke, input)
		if err == nil {
			return
		}
		b.cfg.Logger.Warn("eventbridge: target failed", "rule", r.Name, "target", t.ID, "id", env.ID, "attempt", attempt, "err", err)
		d := policy.Delay(attempt)
		if attempt > retries || time.Since(ingested)+d > maxAge {
			b.deadLetter(DeadLetter{Rule: r.Name, Target: t.ID, Event: env, Input: input, Err: err, Attempts: attempt})
			return
		}
		time.Sleep(d)
	}
}

// invoke calls fn, turning a panic into an error.
func invoke(fn func(context.Context, []byte) error, input []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("target panicked: %v", p)
		}
	}()
	return fn(context.Background(), append([]byte(nil), input...))
}

func (b *Bus) deadLetter(dl DeadLetter) {
	b.cfg.Logger.Error("eventbridge: dead letter", "rule", dl.Rule, "target", dl.Target, "id", dl.Event.ID,
		"detailType", dl.Event.DetailType, "attempts", dl.Attempts, "err", dl.Err)
	b.mu.Lock()
	b.dead = append(b.dead, dl)
	b.mu.Unlock()
	if b.cfg.OnDeadLetter != nil {
		b.cfg.OnDeadLetter(dl)
	}
}
