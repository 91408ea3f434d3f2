package courier

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

const shutdownGrace = 5 * time.Second

// Start serves the simulator on addr ("127.0.0.1:0" picks a free port) in the background and
// returns its base URL. stop shuts the server down and releases hanging calls.
func (s *Simulator) Start(addr string) (baseURL string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("courier simulator: listen %s: %w", addr, err)
	}
	srv := s.server()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	stop = func() {
		s.shutdown(srv)
		<-done
	}
	return "http://" + ln.Addr().String(), stop, nil
}

// Serve runs a simulator on addr until ctx ends, for a standalone `loyaltyd courier-sim`.
func Serve(ctx context.Context, addr string, opts SimOptions) error {
	sim := NewSimulator(opts)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("courier simulator: listen %s: %w", addr, err)
	}
	srv := sim.server()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("courier simulator: %w", err)
	case <-ctx.Done():
	}
	sim.shutdown(srv)
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("courier simulator: %w", err)
	}
	return nil
}

func (s *Simulator) server() *http.Server {
	return &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
}

func (s *Simulator) shutdown(srv *http.Server) {
	s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
	}
}
