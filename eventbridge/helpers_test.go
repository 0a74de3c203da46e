package eventbridge

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	ebsdk "github.com/aws/aws-sdk-go-v2/service/eventbridge"
)

// testBus starts b behind an httptest server and returns a real SDK client
// pointed at it. sdkAttempts is the client's RetryMaxAttempts (0: SDK
// default).
func testBus(t *testing.T, b *Bus, sdkAttempts int) (*ebsdk.Client, *httptest.Server) {
	t.Helper()
	return testBusWith(t, b, b, sdkAttempts)
}

func testBusWith(t *testing.T, b *Bus, h http.Handler, sdkAttempts int) (*ebsdk.Client, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		b.Close()
		srv.Close()
	})
	return sdkClient(srv.URL, sdkAttempts), srv
}

func sdkClient(url string, attempts int) *ebsdk.Client {
	return ebsdk.New(ebsdk.Options{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDLOCALBUS", "local-secret", ""),
		BaseEndpoint:     aws.String(url),
		RetryMaxAttempts: attempts,
	})
}

// fastBus retries deliveries quickly.
func fastBus(cfg BusConfig) *Bus {
	if cfg.RetryBaseDelay == 0 {
		cfg.RetryBaseDelay = time.Millisecond
	}
	if cfg.RetryMaxDelay == 0 {
		cfg.RetryMaxDelay = 5 * time.Millisecond
	}
	return NewBus(cfg)
}

// fastPublisher retries quickly.
func fastPublisher(api API, bus string) *Publisher {
	p := NewPublisher(api, bus, "")
	p.Retry = RetryPolicy{MaxAttempts: 8, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}
	return p
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// inbox collects target inputs.
type inbox struct {
	mu   sync.Mutex
	got  [][]byte
	ch   chan []byte
	fail func(n int) error // n = 1-based call number
}

func newInbox() *inbox { return &inbox{ch: make(chan []byte, 1024)} }

func (in *inbox) invoke(_ context.Context, input []byte) error {
	in.mu.Lock()
	in.got = append(in.got, input)
	n := len(in.got)
	fail := in.fail
	in.mu.Unlock()
	if fail != nil {
		if err := fail(n); err != nil {
			return err
		}
	}
	in.ch <- input
	return nil
}

func (in *inbox) calls() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.got)
}

// next waits for the next delivered input.
func (in *inbox) next(t *testing.T) []byte {
	t.Helper()
	select {
	case b := <-in.ch:
		return b
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for a delivery")
		return nil
	}
}

func sampleRunRequested(runID string) RunRequested {
	return RunRequested{
		RunID: runID, WorkBucket: "work", RunURI: S3URI("work", "runs/"+runID+"/run.json"),
		Items: 1200, Bytes: 5 << 20, Shards: 12, ArrayWidth: 4, RecipeHash: "sha256:abc",
		RequestedAt: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
	}
}
