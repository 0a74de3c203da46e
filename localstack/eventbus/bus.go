package eventbus

import (
	"log/slog"
	"sync"
	"time"

	"github.com/imgbatch/imgbatch/eventbridge"
)

// Entry is one PutEvents request entry as the bus received it.
type Entry struct {
	Source       string
	DetailType   string
	Detail       string
	EventBusName string
	Resources    []string
	Time         time.Time // zero when the entry had none
	TraceHeader  string
}

// DeadLetter is an event a target did not take, after its retries.
type DeadLetter struct {
	Rule     string
	Target   string
	Event    eventbridge.Envelope
	Input    []byte // the transformed input, when the transformation worked
	Err      error
	Attempts int // Invoke calls made (0: the input transformation failed)
}

// Config configures a Bus; zero fields take the defaults.
type Config struct {
	Region  string // "us-east-1"
	Account string // "000000000000"
	// Default retry policy of targets (Target.RetryAttempts and MaxEventAge
	// of 0): 3 retries, 24 h.
	RetryAttempts int
	MaxEventAge   time.Duration
	// Delays between delivery retries: exponential from RetryBaseDelay
	// (100 ms) up to RetryMaxDelay (5 s), with jitter.
	RetryBaseDelay time.Duration
	RetryMaxDelay  time.Duration
	// MaxRequestBytes bounds the summed entry size of one PutEvents call
	// (MaxCallBytes).
	MaxRequestBytes int
	// MaxEvents bounds how many accepted events Events keeps (oldest
	// dropped); 0 keeps all.
	MaxEvents int
	// OnDeadLetter, if set, is called for each dead letter (on the delivery
	// goroutine).
	OnDeadLetter func(DeadLetter)
	Logger       *slog.Logger // default: discard
}

// DefaultAccount is the account id of events on the local bus.
const DefaultAccount = "000000000000"

// DefaultRegion is the region of events on the local bus.
const DefaultRegion = "us-east-1"

// DefaultBus is the name of the default event bus.
const DefaultBus = "default"

func (c Config) withDefaults() Config {
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if c.Account == "" {
		c.Account = DefaultAccount
	}
	if c.RetryAttempts == 0 {
		c.RetryAttempts = 3
	}
	if c.MaxEventAge <= 0 {
		c.MaxEventAge = 24 * time.Hour
	}
	if c.RetryBaseDelay <= 0 {
		c.RetryBaseDelay = 100 * time.Millisecond
	}
	if c.RetryMaxDelay <= 0 {
		c.RetryMaxDelay = 5 * time.Second
	}
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = eventbridge.MaxCallBytes
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Bus is a local stand-in for Amazon EventBridge: an http.Handler speaking
// the EventBridge JSON 1.1 protocol (AWSEvents.PutEvents), with rules
// matched by quamina, input transformation, asynchronous delivery with
// retries, and dead letters. Point the real SDK client at it (BaseEndpoint or
// AWS_ENDPOINT_URL_EVENTBRIDGE). A Bus is safe for concurrent use; the zero
// value is a bus with the default configuration.
type Bus struct {
	once sync.Once
	cfg  Config

	mu       sync.Mutex
	idle     *sync.Cond // signalled when inflight drops to 0
	rules    []*rule
	subs     map[*subscriber]struct{}
	events   []eventbridge.Envelope
	dead     []DeadLetter
	failFn   func(Entry) bool
	failN    int
	failSeq  int
	inflight int
	closed   bool
}

// New returns a bus with cfg (zero fields take the defaults).
func New(cfg Config) *Bus {
	b := &Bus{cfg: cfg}
	b.init()
	return b
}

func (b *Bus) init() {
	b.once.Do(func() {
		b.cfg = b.cfg.withDefaults()
		b.idle = sync.NewCond(&b.mu)
		b.subs = make(map[*subscriber]struct{})
	})
}

// Events returns every event the bus accepted, oldest first.
func (b *Bus) Events() []eventbridge.Envelope {
	b.init()
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]eventbridge.Envelope(nil), b.events...)
}

// DeadLetters returns the deliveries that failed for good.
func (b *Bus) DeadLetters() []DeadLetter {
	b.init()
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]DeadLetter(nil), b.dead...)
}

// FailEntries makes every PutEvents entry for which fail returns true fail
// with ErrorCode InternalFailure (a partial failure; the entry is not
// accepted). nil stops it.
func (b *Bus) FailEntries(fail func(Entry) bool) {
	b.init()
	b.mu.Lock()
	b.failFn = fail
	b.mu.Unlock()
}

// FailCalls makes the next n PutEvents calls fail as a whole, alternately
// with HTTP 500 InternalException and HTTP 400 ThrottlingException (both
// retryable), starting with 500.
func (b *Bus) FailCalls(n int) {
	b.init()
	b.mu.Lock()
	b.failN = max(n, 0)
	b.failSeq = 0
	b.mu.Unlock()
}

// Close stops the bus once in-flight deliveries are done (deliveries can
// still put events while it waits; those are delivered too), then refuses
// further PutEvents calls and closes every subscription.
func (b *Bus) Close() {
	b.init()
	b.mu.Lock()
	for b.inflight > 0 {
		b.idle.Wait()
	}
	b.closed = true
	subs := b.subs
	b.subs = map[*subscriber]struct{}{}
	b.mu.Unlock()
	for s := range subs {
		s.stop()
	}
}

// acquire counts one piece of work in flight; false once closed.
func (b *Bus) acquire(n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.inflight += n
	return true
}

func (b *Bus) release() {
	b.mu.Lock()
	b.inflight--
	if b.inflight == 0 {
		b.idle.Broadcast()
	}
	b.mu.Unlock()
}
