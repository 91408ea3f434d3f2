package app

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/loyaltyforge/loyalty/infra/httpapi"
)

// opsPaths are what a process without the api role still serves: a container's health check
// and a scraper need them on every process, and none of them changes state.
var opsPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// opsOnly answers the ops endpoints through api and 404 for the rest, saying why.
func opsOnly(api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if opsPaths[r.URL.Path] && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			api.ServeHTTP(w, r)
			return
		}
		p := httpapi.NotFound("this process does not run the api role (LOYALTY_ROLES); it serves only /healthz, /readyz and /metrics")
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(p.Status)
		_ = json.NewEncoder(w).Encode(p)
	})
}

// opsServer serves opsOnly on l. It is a plain http.Server, not the API's: the API server
// also announces the process to its peers for the shared rate limits, which a process that
// takes no requests must not dilute.
type opsServer struct{ srv *http.Server }

func serveOps(l net.Listener, api http.Handler, log *slog.Logger, errs chan<- error) *opsServer {
	s := &opsServer{srv: &http.Server{
		Handler:           opsOnly(api),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}}
	go func() {
		if err := s.srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			errs <- err
		}
	}()
	return s
}
