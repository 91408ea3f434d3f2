package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// healthcheck asks this container's own loyaltyd whether it is ready: the image has no shell
// and no curl, so the Dockerfile's HEALTHCHECK runs `loyaltyd healthcheck`. It exits non-zero
// unless /readyz answers 200 within the timeout.
func healthcheck(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(out)
	url := fs.String("url", "", "readiness URL (default: /readyz on LOYALTY_HTTP_ADDR, via loopback)")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	target := *url
	if target == "" {
		addr := os.Getenv("LOYALTY_HTTP_ADDR")
		if addr == "" {
			addr = ":8080" // config's default
		}
		var err error
		if target, err = readyURL(addr); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d: %s", target, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(out, "ready: %s\n", target)
	return nil
}

// readyURL turns a listen address into the /readyz URL a process on the same host reaches:
// an unspecified host (":8080", "0.0.0.0:8080", "[::]:8080") is reached over loopback.
func readyURL(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("healthcheck: LOYALTY_HTTP_ADDR %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
}
