package localstack

import (
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// SpotNotices stands in for EC2 instance metadata's Spot interruption
// notice, one stand-in per array child attempt (each attempt is its own
// "instance"): IMDSv2 tokens (PUT /latest/api/token) and
// GET /latest/meta-data/spot/instance-action, 404 until Notify flips it to
// {"action":"terminate","time":…} (two minutes ahead, as EC2 does). Hand
// Env to the runner through ArrayHooks.AttemptEnv; the attempt's
// `imgbatch work` then polls it (IMGBATCH_IMDS_ENDPOINT). The zero value
// is ready; Close stops every stand-in.
type SpotNotices struct {
	mu    sync.Mutex
	sites map[string]*imdsSite
}

type imdsSite struct {
	srv    *http.Server
	ln     net.Listener
	mu     sync.Mutex
	notice []byte // nil: no notice (404)
}

func attemptKey(index, attempt int) string { return strconv.Itoa(index) + "/" + strconv.Itoa(attempt) }

// Env starts the stand-in of one attempt (once) and returns the variables
// that point its worker at it.
func (s *SpotNotices) Env(index, attempt int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sites == nil {
		s.sites = map[string]*imdsSite{}
	}
	k := attemptKey(index, attempt)
	site := s.sites[k]
	if site == nil {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil // no stand-in: the worker does not watch
		}
		site = &imdsSite{ln: ln}
		site.srv = &http.Server{Handler: site, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = site.srv.Serve(ln) }()
		s.sites[k] = site
	}
	return []string{"IMGBATCH_IMDS_ENDPOINT=http://" + site.ln.Addr().String(), "IMGBATCH_SPOT_NOTICE=on"}
}

// Notify gives the attempt its two-minute notice; false if it has no stand-in.
func (s *SpotNotices) Notify(index, attempt int) bool {
	s.mu.Lock()
	site := s.sites[attemptKey(index, attempt)]
	s.mu.Unlock()
	if site == nil {
		return false
	}
	b, _ := json.Marshal(map[string]string{"action": "terminate", "time": time.Now().UTC().Add(2 * time.Minute).Format(time.RFC3339)})
	site.mu.Lock()
	site.notice = b
	site.mu.Unlock()
	return true
}

// Close stops every stand-in.
func (s *SpotNotices) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, site := range s.sites {
		_ = site.srv.Close()
	}
	s.sites = nil
}

const imdsToken = "local-imds-token"

// ServeHTTP answers the two IMDSv2 requests the worker makes.
func (site *imdsSite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
		if r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds") == "" {
			http.Error(w, "missing token TTL", http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds"))
		_, _ = w.Write([]byte(imdsToken))
	case r.Method == http.MethodGet && r.URL.Path == "/latest/meta-data/spot/instance-action":
		if r.Header.Get("X-Aws-Ec2-Metadata-Token") != imdsToken {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		site.mu.Lock()
		b := site.notice
		site.mu.Unlock()
		if b == nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(b)
	default:
		http.NotFound(w, r)
	}
}
