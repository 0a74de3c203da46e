// Package s3fault is a fault-injecting reverse proxy for S3: put it between
// an S3 client and an S3 endpoint and it answers a seeded share of the
// requests, per request kind (GET, PUT, HEAD, LIST), with what real S3 and
// real networks do to clients — 500 InternalError, 503 SlowDown, 409
// ConditionalRequestConflict on conditional writes, connection resets
// before the request is served or after it was (the write happened, the
// answer is lost), stalls, and response bodies cut short under a full
// Content-Length — and counts what it injected.
//
// The proxy forwards requests byte for byte (path, query, headers and the
// Host the client signed), so endpoints that check SigV4 signatures, such as
// versitygw, work behind it. Hooks see every request before and after it is
// forwarded, with the SDK app id of its client (AWS_SDK_UA_APP_ID), so tests
// can act at precise points ("kill the child that is uploading"). Rules
// (AddRule) break given requests instead of drawn ones, with any fault or
// any S3 error code, for tests of one client's error handling.
package s3fault

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Kind is the kind of an S3 request.
type Kind string

// Request kinds.
const (
	KindGet   Kind = "GET"   // GetObject
	KindPut   Kind = "PUT"   // PutObject (and multipart parts)
	KindHead  Kind = "HEAD"  // HeadObject, HeadBucket
	KindList  Kind = "LIST"  // ListObjectsV2 and other bucket-level GETs
	KindOther Kind = "OTHER" // DELETE, POST, service-level requests
)

// Kinds lists the kinds in a fixed order (for reports).
var Kinds = []Kind{KindGet, KindPut, KindHead, KindList, KindOther}

// Fault is what the proxy does to one request.
type Fault string

// Faults. None forwards the request untouched.
const (
	None          Fault = ""
	InternalError Fault = "InternalError"              // 500 InternalError; not forwarded
	SlowDown      Fault = "SlowDown"                   // 503 SlowDown; not forwarded
	Conflict      Fault = "ConditionalRequestConflict" // 409; only conditional PUTs (If-Match / If-None-Match); not forwarded
	Reset         Fault = "Reset"                      // the connection is reset before the request is forwarded
	LostResponse  Fault = "LostResponse"               // forwarded (a write happens), then the connection is reset
	Stall         Fault = "Stall"                      // held for Config.Stall, then forwarded
	Truncate      Fault = "Truncate"                   // forwarded; the body is cut short under the full Content-Length (GET, LIST)
	Error         Fault = "Error"                      // a Rule's Status and S3 error Code (rules only); not forwarded
)

// Faults lists every fault rates can draw, in the order they are applied
// (Error is for rules only).
var Faults = []Fault{InternalError, SlowDown, Conflict, Reset, LostResponse, Stall, Truncate}

// Rates are the probabilities (0..1) of each fault for one kind of request.
// Their sum should not exceed 1.
type Rates map[Fault]float64

// Request is what the hooks see of one request.
type Request struct {
	Seq         int64 // 1-based order of arrival
	Kind        Kind
	Method      string
	Bucket, Key string // path-style addressing; Key unescaped
	Query       url.Values
	Conditional bool   // If-Match or If-None-Match
	AppID       string // the client's SDK app id (User-Agent "app/<id>"), e.g. from AWS_SDK_UA_APP_ID
	Fault       Fault  // what the proxy does to it
	Status      int    // the status the client got (After only; 0 when the connection was cut)

	rule *Rule // the rule that broke it, if any
}

// Config configures a Proxy.
type Config struct {
	// Target is the base URL of the S3 endpoint requests go to.
	Target string
	// Seed seeds the fault draws: with one client sending requests in a
	// fixed order, the same seed injects the same faults.
	Seed uint64
	// Rates per kind of request; kinds not listed get no faults.
	Rates map[Kind]Rates
	// Stall is how long a stalled request is held (default 2 s).
	Stall time.Duration
	// Eligible, when set, limits faults to the requests it accepts (e.g.
	// only the source bucket); the others are forwarded untouched.
	Eligible func(*Request) bool
	// Before is called before a request is served (r.Fault is decided);
	// After once the client got its answer, or its connection was cut.
	// Both run on the request's goroutine: keep them short.
	Before, After func(*Request)
	// Transport to the target (default: a dedicated http.Transport).
	Transport http.RoundTripper
}

// Proxy is the fault-injecting http.Handler.
type Proxy struct {
	cfg     Config
	target  *url.URL
	rt      http.RoundTripper
	seq     atomic.Int64
	enabled atomic.Bool

	mu       sync.Mutex
	rng      *rand.Rand
	rules    []*Rule
	injected map[Kind]map[Fault]int64
	requests map[Kind]int64
}

// New makes a proxy to cfg.Target. Faults are on from the start.
func New(cfg Config) (*Proxy, error) {
	u, err := url.Parse(cfg.Target)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("s3fault: target %q is not an http(s) URL", cfg.Target)
	}
	for k, rs := range cfg.Rates {
		sum := 0.0
		for f, r := range rs {
			if r < 0 || r > 1 {
				return nil, fmt.Errorf("s3fault: rate of %s on %s is %v, outside 0..1", f, k, r)
			}
			sum += r
		}
		if sum > 1+1e-9 {
			return nil, fmt.Errorf("s3fault: rates on %s add up to %v, over 1", k, sum)
		}
	}
	if cfg.Stall <= 0 {
		cfg.Stall = 2 * time.Second
	}
	rt := cfg.Transport
	if rt == nil {
		rt = &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true, // forward bytes as they are
		}
	}
	p := &Proxy{cfg: cfg, target: u, rt: rt, rng: rand.New(rand.NewPCG(cfg.Seed, 0x5eed)),
		injected: map[Kind]map[Fault]int64{}, requests: map[Kind]int64{}}
	p.enabled.Store(true)
	return p, nil
}

// SetEnabled turns fault injection on or off (requests are forwarded
// either way; hooks run either way).
func (p *Proxy) SetEnabled(on bool) { p.enabled.Store(on) }

// Injected returns how many faults of each kind were injected per request kind.
func (p *Proxy) Injected() map[Kind]map[Fault]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[Kind]map[Fault]int64{}
	for k, m := range p.injected {
		out[k] = map[Fault]int64{}
		for f, n := range m {
			out[k][f] = n
		}
	}
	return out
}

// Requests returns how many requests of each kind the proxy served.
func (p *Proxy) Requests() map[Kind]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[Kind]int64{}
	for k, n := range p.requests {
		out[k] = n
	}
	return out
}

// Total is the number of faults injected, all kinds together.
func (p *Proxy) Total() int64 {
	var n int64
	for _, m := range p.Injected() {
		for _, c := range m {
			n += c
		}
	}
	return n
}

// Summary renders the counters on one line, e.g.
// "GET 120 (InternalError 3, Truncate 2) PUT 80 (SlowDown 1)".
func (p *Proxy) Summary() string {
	inj, reqs := p.Injected(), p.Requests()
	var parts []string
	for _, k := range Kinds {
		if reqs[k] == 0 {
			continue
		}
		s := fmt.Sprintf("%s %d", k, reqs[k])
		var fs []string
		for _, f := range Faults {
			if n := inj[k][f]; n > 0 {
				fs = append(fs, fmt.Sprintf("%s %d", f, n))
			}
		}
		if len(fs) > 0 {
			s += " (" + strings.Join(fs, ", ") + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

var appIDRe = regexp.MustCompile(`(?:^|\s)app/(\S+)`)

// classify parses a path-style S3 request.
func classify(r *http.Request) *Request {
	path := r.URL.Path
	bucket, key, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	q := r.URL.Query()
	req := &Request{Method: r.Method, Bucket: bucket, Key: key, Query: q,
		Conditional: r.Header.Get("If-Match") != "" || r.Header.Get("If-None-Match") != ""}
	if m := appIDRe.FindStringSubmatch(r.Header.Get("User-Agent")); m != nil {
		req.AppID = m[1]
	}
	switch {
	case r.Method == http.MethodHead:
		req.Kind = KindHead
	case r.Method == http.MethodGet && bucket != "" && key != "":
		req.Kind = KindGet
	case r.Method == http.MethodGet && bucket != "":
		req.Kind = KindList
	case r.Method == http.MethodPut && key != "":
		req.Kind = KindPut
	default:
		req.Kind = KindOther
	}
	return req
}

// decide draws the fault of a request.
func (p *Proxy) decide(req *Request) Fault {
	if !p.enabled.Load() {
		return None
	}
	rates := p.cfg.Rates[req.Kind]
	if len(rates) == 0 {
		return None
	}
	if p.cfg.Eligible != nil && !p.cfg.Eligible(req) {
		return None
	}
	p.mu.Lock()
	u := p.rng.Float64()
	p.mu.Unlock()
	cum := 0.0
	for _, f := range Faults {
		r := rates[f]
		if r <= 0 {
			continue
		}
		cum += r
		if u < cum {
			if !applies(f, req) {
				return None
			}
			return f
		}
	}
	return None
}

// applies reports whether fault f makes sense for req.
func applies(f Fault, req *Request) bool {
	switch f {
	case Conflict:
		return req.Kind == KindPut && req.Conditional
	case Truncate:
		return req.Kind == KindGet || req.Kind == KindList
	}
	return true
}

// ServeHTTP serves one request, with its fault.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := classify(r)
	req.Seq = p.seq.Add(1)
	if req.rule = p.pick(r.Method, r.URL.Path, req); req.rule != nil {
		req.Fault = req.rule.Fault
	} else {
		req.Fault = p.decide(req)
	}
	p.mu.Lock()
	p.requests[req.Kind]++
	if req.Fault != None {
		if p.injected[req.Kind] == nil {
			p.injected[req.Kind] = map[Fault]int64{}
		}
		p.injected[req.Kind][req.Fault]++
	}
	p.mu.Unlock()
	if p.cfg.Before != nil {
		p.cfg.Before(req)
	}
	status := p.serve(w, r, req)
	if p.cfg.After != nil {
		req.Status = status
		p.cfg.After(req)
	}
}

// serve carries out the fault and returns the status the client saw (0
// when the connection was cut before a complete answer).
func (p *Proxy) serve(w http.ResponseWriter, r *http.Request, req *Request) int {
	switch req.Fault {
	case InternalError:
		return s3Error(w, r, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again. (s3fault)", req.Seq)
	case SlowDown:
		return s3Error(w, r, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate. (s3fault)", req.Seq)
	case Conflict:
		return s3Error(w, r, http.StatusConflict, "ConditionalRequestConflict",
			"A conflicting operation occurred. If using PutObject you can retry the request. (s3fault)", req.Seq)
	case Error:
		return s3Error(w, r, req.rule.Status, req.rule.Code, "injected "+req.rule.Code+" (s3fault)", req.Seq)
	case Reset:
		cut(w)
		return 0
	case Stall:
		t := time.NewTimer(p.cfg.Stall)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return 0
		}
	}
	resp, err := p.forward(r)
	if err != nil {
		// The target is unreachable: what a gateway says.
		return s3Error(w, r, http.StatusBadGateway, "BadGateway", "s3fault: "+err.Error(), req.Seq)
	}
	defer resp.Body.Close()
	switch req.Fault {
	case LostResponse:
		_, _ = io.Copy(io.Discard, resp.Body) // the target has done the work
		cut(w)
		return 0
	case Truncate:
		body, err := io.ReadAll(resp.Body)
		if err == nil && len(body) > 0 {
			writeTruncated(w, resp, body)
			return 0
		}
		return copyResponse(w, resp, bytes.NewReader(body))
	}
	return copyResponse(w, resp, resp.Body)
}

// forward sends the request to the target unchanged: same method, raw
// path and query, headers, and the Host the client signed.
func (p *Proxy) forward(r *http.Request) (*http.Response, error) {
	u := *p.target
	u.Path, u.RawPath = r.URL.Path, r.URL.RawPath
	u.RawQuery = r.URL.RawQuery
	out, err := http.NewRequestWithContext(context.WithoutCancel(r.Context()), r.Method, u.String(), r.Body)
	if err != nil {
		return nil, err
	}
	if r.ContentLength == 0 {
		out.Body = http.NoBody
	}
	out.ContentLength = r.ContentLength
	out.Host = r.Host
	for k, vs := range r.Header {
		if hopByHop[http.CanonicalHeaderKey(k)] {
			continue
		}
		out.Header[k] = append([]string(nil), vs...)
	}
	if len(r.TransferEncoding) > 0 {
		out.TransferEncoding = r.TransferEncoding
	}
	return p.rt.RoundTrip(out)
}

var hopByHop = map[string]bool{
	"Connection": true, "Proxy-Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
}

func copyResponse(w http.ResponseWriter, resp *http.Response, body io.Reader) int {
	h := w.Header()
	for k, vs := range resp.Header {
		if hopByHop[http.CanonicalHeaderKey(k)] {
			continue
		}
		h[k] = append([]string(nil), vs...)
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, body)
	return resp.StatusCode
}

// writeTruncated writes the response by hand on the hijacked connection:
// the full Content-Length, about half of the body, then a reset.
func writeTruncated(w http.ResponseWriter, resp *http.Response, body []byte) {
	conn, buf, err := hijack(w)
	if err != nil {
		return
	}
	defer resetClose(conn)
	fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\n", resp.StatusCode, http.StatusText(resp.StatusCode))
	h := resp.Header.Clone()
	for k := range hopByHop {
		h.Del(k)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Connection", "close")
	_ = h.Write(buf)
	buf.WriteString("\r\n")
	_, _ = buf.Write(body[:len(body)/2])
	_ = buf.Flush()
}

// cut resets the client's connection without an answer.
func cut(w http.ResponseWriter) {
	conn, _, err := hijack(w)
	if err != nil {
		return
	}
	resetClose(conn)
}

// hijack takes the client's connection over, for the faults that break it;
// they need an HTTP/1 server.
func hijack(w http.ResponseWriter) (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("s3fault: the server does not support hijacking (HTTP/1 needed)")
	}
	return hj.Hijack()
}

// resetClose closes with a TCP RST (SO_LINGER 0), as a dropped middlebox does.
func resetClose(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// s3Error answers with an S3 XML error (no body on HEAD, like S3). The
// request body is read first, as S3 does before it answers a PUT.
func s3Error(w http.ResponseWriter, r *http.Request, status int, code, msg string, seq int64) int {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<30))
	reqID := fmt.Sprintf("S3FAULT%010d", seq)
	w.Header().Set("x-amz-request-id", reqID)
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return status
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<Error><Code>%s</Code><Message>%s</Message><RequestId>%s</RequestId></Error>`, code, msg, reqID)
	return status
}

// Server is a Proxy listening on 127.0.0.1.
type Server struct {
	*Proxy
	URL string
	srv *http.Server
	ln  net.Listener
}

// Start serves a new proxy on a free loopback port.
func Start(cfg Config) (*Server, error) {
	p, err := New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{Proxy: p, URL: "http://" + ln.Addr().String(), ln: ln,
		srv: &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	return err
}
