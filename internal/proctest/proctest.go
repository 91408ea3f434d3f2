// Package proctest runs the real binaries in tests: builds them once per test process, starts
// them on a free loopback port, waits for /readyz, kills them. Only tests import it.
package proctest

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

var builds sync.Map // import path -> *built

type built struct {
	once sync.Once
	path string
	err  error
}

// Binary builds the command at importPath (e.g. github.com/loyaltyforge/loyalty/cmd/loyaltyd)
// once per test process and returns the executable's path.
func Binary(t testing.TB, importPath string) string {
	t.Helper()
	v, _ := builds.LoadOrStore(importPath, &built{})
	b := v.(*built)
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "proctest-bin-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, filepath.Base(importPath))
		build := exec.Command("go", "build", "-o", b.path, importPath)
		build.Stderr = os.Stderr
		b.err = build.Run()
	})
	if b.err != nil {
		t.Fatalf("proctest: build %s: %v", importPath, b.err)
	}
	return b.path
}

// FreeAddr is a loopback address nothing listens on right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proctest: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Proc is a running process serving HTTP at Base.
type Proc struct {
	Cmd  *exec.Cmd
	Base string
	// Exited receives the process's end once; Kill and the cleanup put it back for each other.
	Exited chan error
}

// Start runs bin with the test's environment plus env and LOYALTY_HTTP_ADDR on a free port.
// Every line the process writes to stderr goes to onLine (nil: dropped). The process is killed
// when the test ends.
func Start(t testing.TB, bin string, env []string, onLine func(string)) *Proc {
	t.Helper()
	addr := FreeAddr(t)
	cmd := exec.Command(bin)
	cmd.Env = append(append(os.Environ(), env...), "LOYALTY_HTTP_ADDR="+addr)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatalf("proctest: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("proctest: start %s: %v", bin, err)
	}
	p := &Proc{Cmd: cmd, Base: "http://" + addr, Exited: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if onLine != nil {
				onLine(sc.Text())
			}
		}
		p.Exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		p.Exited <- <-p.Exited
	})
	return p
}

// WaitReady waits until /readyz answers 200; it fails the test if the process exits first or
// is not ready within timeout.
func (p *Proc) WaitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.Exited:
			p.Exited <- err
			t.Fatalf("proctest: %s exited before it was ready: %v", p.Cmd.Path, err)
		default:
		}
		if resp, err := http.Get(p.Base + "/readyz"); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("proctest: %s was not ready within %v", p.Cmd.Path, timeout)
}

// Kill sends SIGKILL and waits for the process to end.
func (p *Proc) Kill(t testing.TB) {
	t.Helper()
	_ = p.Cmd.Process.Signal(syscall.SIGKILL)
	select {
	case err := <-p.Exited:
		p.Exited <- err
	case <-time.After(30 * time.Second):
		t.Fatalf("proctest: %s did not die of SIGKILL", p.Cmd.Path)
	}
}
