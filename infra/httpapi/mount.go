package httpapi

import (
	"net/http"
	"strings"
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
