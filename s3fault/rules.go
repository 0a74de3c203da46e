package s3fault

import (
	"strings"
	"sync/atomic"
)

// Rule is a fault at a fixed place instead of a drawn one: it breaks the
// first Times requests (every one when Times < 0) whose method and path
// match, before any rate is drawn. Tests of one client's error handling
// use rules ("the first two GETs of /src/a.jpg get 503 SlowDown"); Rates
// are for runs under random faults.
type Rule struct {
	Method string // "" matches any
	Path   string // the URL path, "/bucket/key"; a trailing "*" matches a prefix
	Fault  Fault  // any fault; Error answers Status and Code
	Status int    // with Error: the HTTP status, e.g. 403
	Code   string // with Error: the S3 error code, e.g. "AccessDenied"
	Times  int    // how many requests to break; < 0 breaks all

	hits atomic.Int64
}

// Hits is the number of requests the rule broke.
func (r *Rule) Hits() int64 { return r.hits.Load() }

func (r *Rule) matches(method, path string) bool {
	if r.Method != "" && method != r.Method {
		return false
	}
	if p, ok := strings.CutSuffix(r.Path, "*"); ok {
		return strings.HasPrefix(path, p)
	}
	return path == r.Path
}

// AddRule installs r after the rules already there (the first that
// matches a request breaks it) and returns it.
func (p *Proxy) AddRule(r *Rule) *Rule {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, r)
	return r
}

// pick returns the rule that breaks the request, and counts the hit; nil
// when faults are off or no rule with hits left matches. A rule whose
// fault does not apply to the request (a Truncate on a PUT) is passed over.
func (p *Proxy) pick(method, path string, req *Request) *Rule {
	if !p.enabled.Load() {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.rules {
		if !r.matches(method, path) || !applies(r.Fault, req) {
			continue
		}
		if r.Times >= 0 && r.hits.Load() >= int64(r.Times) {
			continue
		}
		r.hits.Add(1)
		return r
	}
	return nil
}
