package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// TestStatusUnreachableEndpoint: status against a closed port fails with
// exit 1 and names the endpoint and the variable that set it, after the
// interactive clients' few quick attempts (not the children's patient
// ones, which took 75 s here).
func TestStatusUnreachableEndpoint(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now: connections are refused
	setLocalAWSEnv(t, endpoint, endpoint)
	var out, errb bytes.Buffer
	start := time.Now()
	code := run([]string{"imgbatch", "status", "--work-bucket", "work", "20261123t020000z-1a2b3c4d"}, &out, &errb)
	took := time.Since(start)
	if code != 1 {
		t.Fatalf("status exited %d, want 1; stderr:\n%s", code, errb.String())
	}
	if msg := errb.String(); !strings.Contains(msg, "cannot reach "+endpoint+" (AWS_ENDPOINT_URL_S3)") || !strings.Contains(msg, "attempts, 3") {
		t.Errorf("the error does not name the endpoint and its variable after 3 attempts:\n%s", msg)
	}
	if took > 30*time.Second { // generous: the patient clients take over a minute
		t.Errorf("status took %s to fail", took)
	}
}

// TestInteractiveClientProfiles: the commands a person waits for get the
// impatient clients (3 attempts, short backoff, bounded connect and
// header waits); work, reap and local's own clients keep the patient
// ones.
func TestInteractiveClientProfiles(t *testing.T) {
	setLocalAWSEnv(t, "http://127.0.0.1:9", "http://127.0.0.1:9")
	for _, cmd := range []string{"status", "plan", "submit", "redrive", "cancel", "pause", "resume", "work", "reap"} {
		cl, err := loadClientsFor(context.Background(), cmd)
		if err != nil {
			t.Fatal(err)
		}
		want := patientClients
		if cmd != "work" && cmd != "reap" {
			want = interactiveClients
		}
		o := cl.s3.Options()
		if got := o.Retryer.MaxAttempts(); got != want.attempts {
			t.Errorf("%s: %d attempts, want %d", cmd, got, want.attempts)
		}
		hc := o.HTTPClient.(namedEndpoints).HTTPClient.(*awshttp.BuildableClient)
		if got := hc.GetDialer().Timeout; want.dial > 0 && got != want.dial {
			t.Errorf("%s: connect timeout %s, want %s", cmd, got, want.dial)
		}
		var tr *http.Transport = hc.GetTransport()
		if got := tr.ResponseHeaderTimeout; got != want.header {
			t.Errorf("%s: response header timeout %s, want %s", cmd, got, want.header)
		}
	}
	if interactiveClients.attempts >= patientClients.attempts || interactiveClients.maxBackoff > 2*time.Second {
		t.Errorf("interactive clients %+v are not quicker than the patient ones %+v", interactiveClients, patientClients)
	}
}
