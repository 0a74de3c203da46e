package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// clientProfile is how patient a command's AWS clients are.
type clientProfile struct {
	attempts   int           // SDK attempts per request (first one included)
	maxBackoff time.Duration // longest wait between attempts
	// dial and header bound one attempt's connect and its wait for the
	// response headers (0: the SDK's defaults, 30 s to connect and no
	// bound on the headers).
	dial, header time.Duration
}

var (
	// patientClients ride out minutes of S3 5xx/SlowDown: an array child
	// (work), the planner job and reap run unattended, and a retry is
	// cheaper than a failed attempt.
	patientClients = clientProfile{attempts: 8, maxBackoff: 20 * time.Second}
	// interactiveClients answer a person within ~10 s: an unreachable
	// endpoint fails after 3 quick attempts (a refused connection at once,
	// a black-holed one after 3 s each) with the endpoint named.
	interactiveClients = clientProfile{attempts: 3, maxBackoff: 2 * time.Second, dial: 3 * time.Second, header: 30 * time.Second}
)

// interactiveCommands are the commands a person waits for at a prompt.
var interactiveCommands = map[string]bool{
	"status": true, "plan": true, "submit": true, "redrive": true,
	"cancel": true, "pause": true, "resume": true,
}

// httpClient is the SDK's HTTP client with p's timeouts (a
// *BuildableClient: the config loader adds a custom CA bundle to it).
func (p clientProfile) httpClient() *awshttp.BuildableClient {
	c := awshttp.NewBuildableClient()
	if p.dial > 0 {
		c = c.WithDialerOptions(func(d *net.Dialer) { d.Timeout = p.dial })
	}
	if p.header > 0 {
		c = c.WithTransportOptions(func(t *http.Transport) { t.ResponseHeaderTimeout = p.header })
	}
	return c
}

// namedEndpoints wraps the SDK's HTTP client: a request that never got a
// response says which endpoint could not be reached (the SDK's own
// message is buried in retry details).
type namedEndpoints struct{ aws.HTTPClient }

func (n namedEndpoints) Do(req *http.Request) (*http.Response, error) {
	resp, err := n.HTTPClient.Do(req)
	if err != nil && req.Context().Err() == nil {
		return resp, fmt.Errorf("cannot reach %s%s: %w", req.URL.Scheme+"://"+req.URL.Host, endpointSource(req.URL.Host), err)
	}
	return resp, err
}

// endpointSource names the AWS_ENDPOINT_URL* variable that points at
// host, if one does.
func endpointSource(host string) string {
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_ENDPOINT_URL") && v != "" && strings.Contains(v, "://"+host) {
			return " (" + k + ")"
		}
	}
	return ""
}
