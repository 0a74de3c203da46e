package s3fault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/imgbatch/imgbatch/internal/testutil/s3test"
)

// backend is an in-memory S3 with bucket "bkt" and a direct client.
type backend struct {
	url    string
	direct *s3.Client
}

func newBackend(t *testing.T) backend {
	t.Helper()
	srv := s3test.Start(t, "bkt")
	return backend{url: srv.URL, direct: client(srv.URL, 1, "")}
}

// client is the real SDK client; attempts 1 turns the SDK's retries off.
func client(endpoint string, attempts int, appID string) *s3.Client {
	return s3test.NewClient(endpoint, s3test.Static("AKIDS3FAULTTEST", "secret"), s3test.Retries(attempts, 50*time.Millisecond),
		func(o *s3.Options) { o.AppID = appID })
}

func startProxy(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func put(ctx context.Context, c *s3.Client, key string, body []byte, ifNoneMatch bool) error {
	in := &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String(key), Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))}
	if ifNoneMatch {
		in.IfNoneMatch = aws.String("*")
	}
	_, err := c.PutObject(ctx, in)
	return err
}

func get(ctx context.Context, c *s3.Client, key string) (data []byte, contentLength int64, err error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String(key)})
	if err != nil {
		return nil, 0, err
	}
	defer out.Body.Close()
	data, err = io.ReadAll(out.Body)
	return data, aws.ToInt64(out.ContentLength), err
}

func exists(ctx context.Context, c *s3.Client, key string) bool {
	_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String(key)})
	return err == nil
}

func apiCode(err error) (string, int) {
	var ae smithy.APIError
	code := ""
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	var re *smithyhttp.ResponseError
	status := 0
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return code, status
}

func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

// TestEachFaultAsTheSDKSeesIt injects each fault into every request of one
// kind, with the SDK's retries off, and checks what the real client gets
// and what reached the backend.
func TestEachFaultAsTheSDKSeesIt(t *testing.T) {
	ctx := context.Background()
	body := payload(4096)
	isRetryable := func(err error) bool {
		return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
	}
	cases := []struct {
		name  string
		kind  Kind
		fault Fault
		check func(t *testing.T, b backend, c *s3.Client)
	}{
		{"500 on GET", KindGet, InternalError, func(t *testing.T, b backend, c *s3.Client) {
			_, _, err := get(ctx, c, "k")
			if code, st := apiCode(err); code != "InternalError" || st != 500 || !isRetryable(err) {
				t.Errorf("got %q %d (%v), want retryable InternalError 500", code, st, err)
			}
		}},
		{"503 on PUT, nothing written", KindPut, SlowDown, func(t *testing.T, b backend, c *s3.Client) {
			err := put(ctx, c, "new", body, false)
			if code, st := apiCode(err); code != "SlowDown" || st != 503 || !isRetryable(err) {
				t.Errorf("got %q %d (%v), want retryable SlowDown 503", code, st, err)
			}
			if exists(ctx, b.direct, "new") {
				t.Error("a refused PUT reached the backend")
			}
		}},
		{"409 on a conditional PUT only", KindPut, Conflict, func(t *testing.T, b backend, c *s3.Client) {
			err := put(ctx, c, "cond", body, true)
			if code, st := apiCode(err); code != "ConditionalRequestConflict" || st != 409 {
				t.Errorf("conditional PUT: got %q %d (%v), want ConditionalRequestConflict 409", code, st, err)
			}
			if exists(ctx, b.direct, "cond") {
				t.Error("a refused conditional PUT reached the backend")
			}
			if err := put(ctx, c, "plain", body, false); err != nil {
				t.Errorf("an unconditional PUT got a conflict: %v", err)
			}
		}},
		{"reset on HEAD", KindHead, Reset, func(t *testing.T, b backend, c *s3.Client) {
			_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")})
			if err == nil || !isRetryable(err) {
				t.Errorf("got %v, want an error the SDK retries", err)
			}
		}},
		{"reset before a PUT is served", KindPut, Reset, func(t *testing.T, b backend, c *s3.Client) {
			err := put(ctx, c, "reset", body, false)
			if err == nil || !isRetryable(err) {
				t.Errorf("got %v, want an error the SDK retries", err)
			}
			if exists(ctx, b.direct, "reset") {
				t.Error("a reset PUT reached the backend")
			}
		}},
		{"lost response of a PUT", KindPut, LostResponse, func(t *testing.T, b backend, c *s3.Client) {
			err := put(ctx, c, "lost", body, true)
			if err == nil || !isRetryable(err) {
				t.Errorf("got %v, want an error the SDK retries", err)
			}
			if !exists(ctx, b.direct, "lost") {
				t.Error("the PUT whose answer was lost did not reach the backend")
			}
		}},
		{"stall on LIST", KindList, Stall, func(t *testing.T, b backend, c *s3.Client) {
			out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("bkt")})
			if err != nil || len(out.Contents) != 1 {
				t.Errorf("stalled LIST: %v, %d keys, want the one key", err, len(out.Contents))
			}
		}},
		{"truncated GET body", KindGet, Truncate, func(t *testing.T, b backend, c *s3.Client) {
			data, cl, err := get(ctx, c, "k")
			if err == nil {
				t.Fatalf("a truncated body read without error: %d of %d bytes", len(data), cl)
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) && !isRetryable(err) {
				t.Errorf("body error %v: want io.ErrUnexpectedEOF or a connection error", err)
			}
			if cl != int64(len(body)) || len(data) >= len(body) {
				t.Errorf("Content-Length %d, read %d: want the full length declared and fewer bytes sent", cl, len(data))
			}
		}},
		{"truncated LIST body", KindList, Truncate, func(t *testing.T, b backend, c *s3.Client) {
			_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("bkt")})
			if err == nil {
				t.Fatal("a truncated LIST answer parsed without error")
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t)
			if err := put(ctx, b.direct, "k", body, false); err != nil {
				t.Fatal(err)
			}
			p := startProxy(t, Config{Target: b.url, Seed: 1, Stall: 50 * time.Millisecond,
				Rates: map[Kind]Rates{tc.kind: {tc.fault: 1}}})
			tc.check(t, b, client(p.URL, 1, ""))
			if n := p.Injected()[tc.kind][tc.fault]; n < 1 {
				t.Errorf("counter of %s on %s is %d: %s", tc.fault, tc.kind, n, p.Summary())
			}
		})
	}
}

// TestSDKRetriesCarryThrough runs puts, gets, heads and lists through a
// third of requests failing; the SDK's standard retryer (as imgbatch
// configures it: 8 attempts) gets every operation through intact.
func TestSDKRetriesCarryThrough(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t)
	faulty := Rates{InternalError: 0.1, SlowDown: 0.1, Reset: 0.1, Stall: 0.02}
	p := startProxy(t, Config{Target: b.url, Seed: 7, Stall: 20 * time.Millisecond, Rates: map[Kind]Rates{
		KindPut:  faulty,
		KindGet:  {InternalError: 0.1, SlowDown: 0.1, Reset: 0.1, LostResponse: 0.05},
		KindHead: {InternalError: 0.1, Reset: 0.1, LostResponse: 0.1},
		KindList: {SlowDown: 0.2, Reset: 0.1, LostResponse: 0.05},
	}})
	c := client(p.URL, 8, "")
	const n = 40
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("obj/%03d", i)
		want := payload(1000 + i*37)
		if err := put(ctx, c, key, want, false); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		got, _, err := get(ctx, c, key)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("get %s: %v, %d bytes, want %d", key, err, len(got), len(want))
		}
		if !exists(ctx, c, key) {
			t.Fatalf("head %s failed", key)
		}
	}
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("bkt"), Prefix: aws.String("obj/")})
	if err != nil || len(out.Contents) != n {
		t.Fatalf("list: %v, %d keys, want %d", err, len(out.Contents), n)
	}
	if p.Total() == 0 {
		t.Fatalf("no fault injected: %s", p.Summary())
	}
	t.Logf("faults: %s", p.Summary())
}

// TestTruncatedGetIsNeverSilentlyShort reads many objects through a proxy
// truncating half of the GETs: a read either fails or returns every byte.
func TestTruncatedGetIsNeverSilentlyShort(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t)
	want := payload(64 << 10)
	if err := put(ctx, b.direct, "big", want, false); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, Config{Target: b.url, Seed: 3, Rates: map[Kind]Rates{KindGet: {Truncate: 0.5}}})
	c := client(p.URL, 8, "")
	failed := 0
	for i := 0; i < 30; i++ {
		got, cl, err := get(ctx, c, "big")
		if err != nil {
			failed++
			continue
		}
		if cl != int64(len(want)) || !bytes.Equal(got, want) {
			t.Fatalf("read %d bytes (Content-Length %d) without error, want all %d", len(got), cl, len(want))
		}
	}
	if inj := p.Injected()[KindGet][Truncate]; inj == 0 || int64(failed) != inj {
		t.Errorf("%d truncations injected, %d reads failed: every truncation must fail its read", inj, failed)
	}
}

// TestSameSeedSameFaults: one client, the same requests in the same order,
// the same seed: the same faults.
func TestSameSeedSameFaults(t *testing.T) {
	ctx := context.Background()
	run := func(seed uint64) []Fault {
		b := newBackend(t)
		var mu sync.Mutex
		var seen []Fault
		p := startProxy(t, Config{Target: b.url, Seed: seed, Stall: time.Millisecond,
			Rates:  map[Kind]Rates{KindPut: {InternalError: 0.2, SlowDown: 0.2}, KindHead: {Stall: 0.3, InternalError: 0.2}},
			Before: func(r *Request) { mu.Lock(); seen = append(seen, r.Fault); mu.Unlock() }})
		c := client(p.URL, 1, "")
		for i := 0; i < 40; i++ {
			_ = put(ctx, c, fmt.Sprint(i), []byte("x"), false)
			exists(ctx, c, fmt.Sprint(i))
		}
		return seen
	}
	a, b, other := run(42), run(42), run(43)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("same seed, different faults:\n%v\n%v", a, b)
	}
	if fmt.Sprint(a) == fmt.Sprint(other) {
		t.Errorf("seeds 42 and 43 gave the same 80 faults: the seed is not used")
	}
}

// TestHooksSeeTheClient: Before and After see the kind, key, app id and status.
func TestHooksSeeTheClient(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t)
	var mu sync.Mutex
	var after []Request
	p := startProxy(t, Config{Target: b.url, After: func(r *Request) { mu.Lock(); after = append(after, *r); mu.Unlock() }})
	c := client(p.URL, 1, "child-3-2")
	if err := put(ctx, c, "dir/a b+c.jpg", []byte("x"), true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := get(ctx, c, "dir/a b+c.jpg"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(after) != 2 {
		t.Fatalf("%d requests seen, want 2", len(after))
	}
	for i, want := range []Kind{KindPut, KindGet} {
		r := after[i]
		if r.Kind != want || r.Bucket != "bkt" || r.Key != "dir/a b+c.jpg" || r.AppID != "child-3-2" || r.Status != 200 {
			t.Errorf("request %d: %+v", i, r)
		}
	}
	if !after[0].Conditional || after[1].Conditional {
		t.Errorf("conditional flags: PUT %v GET %v, want true false", after[0].Conditional, after[1].Conditional)
	}
}

func TestRatesAreChecked(t *testing.T) {
	for _, r := range []Rates{{InternalError: 1.5}, {InternalError: 0.6, SlowDown: 0.6}, {Reset: -0.1}} {
		if _, err := New(Config{Target: "http://127.0.0.1:1", Rates: map[Kind]Rates{KindGet: r}}); err == nil {
			t.Errorf("rates %v accepted", r)
		}
	}
	if _, err := New(Config{Target: "not a url"}); err == nil {
		t.Error("a target without scheme and host was accepted")
	}
}

// TestForwardsRawPathsAndHeaders: keys that need escaping arrive intact
// and the answer's headers (ETag, metadata) come back.
func TestForwardsRawPathsAndHeaders(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t)
	p := startProxy(t, Config{Target: b.url})
	c := client(p.URL, 1, "")
	key := "ü/a%2Fb/+=&?#/x y.jpg"
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String(key), Body: strings.NewReader("data"),
		Metadata: map[string]string{"imgbatch-source-etag": "abc"}, ContentType: aws.String("image/jpeg")})
	if err != nil {
		t.Fatal(err)
	}
	h, err := b.direct.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("the key did not arrive intact: %v", err)
	}
	if h.Metadata["imgbatch-source-etag"] != "abc" || aws.ToString(h.ContentType) != "image/jpeg" {
		t.Errorf("metadata %v, content type %q", h.Metadata, aws.ToString(h.ContentType))
	}
	h2, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String(key)})
	if err != nil || aws.ToString(h2.ETag) != aws.ToString(h.ETag) || h2.Metadata["imgbatch-source-etag"] != "abc" {
		t.Errorf("through the proxy: %v, etag %q vs %q, metadata %v", err, aws.ToString(h2.ETag), aws.ToString(h.ETag), h2.Metadata)
	}
	resp, err := http.Get(p.URL + "/bkt/" + "nope")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("missing key: status %d, want the backend's 404", resp.StatusCode)
		}
	}
}

// TestTruncatedListIsRetried: the SDK reads a LIST answer whole before
// parsing it, so a cut answer is an error of the attempt, which it retries.
func TestTruncatedListIsRetried(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t)
	for i := 0; i < 20; i++ {
		if err := put(ctx, b.direct, fmt.Sprintf("k/%02d", i), []byte("x"), false); err != nil {
			t.Fatal(err)
		}
	}
	p := startProxy(t, Config{Target: b.url, Seed: 5, Rates: map[Kind]Rates{KindList: {Truncate: 0.5}}})
	c := client(p.URL, 8, "")
	for i := 0; i < 10; i++ {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("bkt")})
		if err != nil || len(out.Contents) != 20 {
			t.Fatalf("list %d: %v (%s)", i, err, p.Summary())
		}
	}
	if p.Injected()[KindList][Truncate] == 0 {
		t.Fatalf("no truncation injected: %s", p.Summary())
	}
}

// TestRules: a rule breaks the first Times matching requests (all when
// Times < 0) with its fault, an Error rule answers its status and code,
// paths ending in "*" match a prefix, and rules are off with SetEnabled.
func TestRules(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t)
	for _, k := range []string{"k", "p/1", "p/2"} {
		if err := put(ctx, b.direct, k, []byte("x"), false); err != nil {
			t.Fatal(err)
		}
	}
	p := startProxy(t, Config{Target: b.url})
	denied := p.AddRule(&Rule{Method: "GET", Path: "/bkt/k", Fault: Error, Status: 403, Code: "AccessDenied", Times: 2})
	prefix := p.AddRule(&Rule{Path: "/bkt/p/*", Fault: Error, Status: 503, Code: "ServiceUnavailable", Times: -1})
	noTruncatedPut := p.AddRule(&Rule{Method: "PUT", Path: "/bkt/*", Fault: Truncate, Times: -1})
	c := client(p.URL, 1, "")
	for i := range 3 {
		_, _, err := get(ctx, c, "k")
		code, st := apiCode(err)
		if i < 2 && (code != "AccessDenied" || st != 403) {
			t.Errorf("GET %d: %q %d (%v), want AccessDenied 403", i, code, st, err)
		}
		if i == 2 && err != nil {
			t.Errorf("GET %d after the rule's 2 hits: %v", i, err)
		}
	}
	if !exists(ctx, c, "k") {
		t.Error("HEAD k is broken by a GET rule")
	}
	for _, k := range []string{"p/1", "p/2"} {
		if exists(ctx, c, k) {
			t.Errorf("HEAD %s got through a rule on its prefix", k)
		}
		if _, _, err := get(ctx, c, k); err == nil {
			t.Errorf("GET %s got through a rule on its prefix", k)
		} else if code, st := apiCode(err); code != "ServiceUnavailable" || st != 503 {
			t.Errorf("GET %s: %q %d, want ServiceUnavailable 503", k, code, st)
		}
	}
	if err := put(ctx, c, "new", []byte("y"), false); err != nil {
		t.Errorf("PUT under a Truncate rule (which applies to GET and LIST only): %v", err)
	}
	if denied.Hits() != 2 || prefix.Hits() != 4 || noTruncatedPut.Hits() != 0 {
		t.Errorf("hits %d %d %d, want 2 4 0", denied.Hits(), prefix.Hits(), noTruncatedPut.Hits())
	}
	if got := p.Injected()[KindGet][Error]; got != 4 {
		t.Errorf("injected %d Errors on GET, want 4", got)
	}
	p.SetEnabled(false)
	if _, _, err := get(ctx, c, "p/1"); err != nil {
		t.Errorf("GET with faults off: %v", err)
	}
}
