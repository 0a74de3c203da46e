// Package bustest serves an eventbus.Bus to the real AWS SDK in tests: the
// bus behind an httptest server, an SDK client pointed at it, and a bus and
// a publisher that retry quickly. It is test support, used by the tests of
// eventbus, eventbridge (the publisher against the bus) and localstack.
package bustest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	ebsdk "github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/imgbatch/imgbatch/eventbridge"
	"github.com/imgbatch/imgbatch/localstack/eventbus"
)

// Serve serves h (usually b itself) on an httptest server until the test
// ends, then closes b and the server. It returns an SDK client for the
// server; attempts is the client's RetryMaxAttempts (0: the SDK default).
func Serve(t testing.TB, b *eventbus.Bus, h http.Handler, attempts int) (*ebsdk.Client, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		b.Close()
		srv.Close()
	})
	return Client(srv.URL, attempts), srv
}

// Client is an SDK EventBridge client for the endpoint url, with static
// credentials; attempts is its RetryMaxAttempts (0: the SDK default).
func Client(url string, attempts int) *ebsdk.Client {
	return ebsdk.New(ebsdk.Options{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDLOCALBUS", "local-secret", ""),
		BaseEndpoint:     aws.String(url),
		RetryMaxAttempts: attempts,
	})
}

// FastBus is eventbus.New with delivery retries 1 ms … 5 ms apart unless
// cfg sets them.
func FastBus(cfg eventbus.Config) *eventbus.Bus {
	if cfg.RetryBaseDelay == 0 {
		cfg.RetryBaseDelay = time.Millisecond
	}
	if cfg.RetryMaxDelay == 0 {
		cfg.RetryMaxDelay = 5 * time.Millisecond
	}
	return eventbus.New(cfg)
}

// FastPublisher is a publisher to bus (default source) that retries 8 times,
// 1 ms … 5 ms apart.
func FastPublisher(api eventbridge.API, bus string) *eventbridge.Publisher {
	p := eventbridge.NewPublisher(api, bus, "")
	p.Retry = eventbridge.RetryPolicy{MaxAttempts: 8, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}
	return p
}

// Context is cancelled after 20 s or when the test ends.
func Context(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
