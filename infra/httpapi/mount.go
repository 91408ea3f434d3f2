package httpapi

import (
	"math"
	"net/http"
	"strings"
	"time"
)

// Mount serves h for prefix and every path under it. It is for front ends that are not part of
// the JSON API (the web console): they keep their own middleware (cookies, HTML errors), are
// left out of Routes and so out of the OpenAPI document. Mount before serving.
func (s *Server) Mount(prefix string, h http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mounts = append(s.mounts, mount{prefix: strings.TrimSuffix(prefix, "/"), h: h})
}

type mount struct {
	prefix string
	h      http.Handler
}

func (s *Server) mounted(path string) http.Handler {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, m := range s.mounts {
		if path == m.prefix || strings.HasPrefix(path, m.prefix+"/") {
			return m.h
		}
	}
	return nil
}

// ProblemFor is how the API answers err: the same status, code and detail a route would send,
// so another front end can show the API's own error messages.
func (s *Server) ProblemFor(err error) *Problem {
	p, _ := s.problemFor(err)
	return p
}

// SharedLimiter limits to rate per second per key (a burst of one second's worth), the rate
// shared by the serving processes as the API's own limits are (Peers); nil (no limit) when
// rate <= 0. For front ends that must not be a way around the API's limits.
func (s *Server) SharedLimiter(rate float64) *Limiter {
	l := NewLimiter(rate, int(math.Ceil(rate)))
	if l != nil {
		l.peers = s.peers
	}
	return l
}

// RateLimitedProblem is the API's answer to a caller over its limit.
func RateLimitedProblem(wait time.Duration) *Problem {
	p := NewProblem(http.StatusTooManyRequests, CodeRateLimited, "too many requests; retry later")
	p.RetryAfter = wait
	return p
}
