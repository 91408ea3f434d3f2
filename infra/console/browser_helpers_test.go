package console_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

const chromiumPath = "/usr/bin/chromium"

// browser is a headless Debian Chromium with a fresh profile, one tab, the messages of its
// console and a folder for screenshots.
type browser struct {
	t         *testing.T
	ctx       context.Context
	base      string
	artifacts string
	shots     int

	mu       sync.Mutex
	messages []chromedp.ConsoleMessage
}

// newBrowser starts Chromium with a width x height viewport (mobile emulation below 600 px).
func newBrowser(t *testing.T, base string, width, height int64) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("console browser tests need Debian's Chromium at %s (apt-get install chromium, or make chromium): %v", chromiumPath, err)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(int(width), int(height)),
	)
	ctx, cancelTab := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 4*time.Minute)
	b := &browser{t: t, ctx: ctx, base: base, artifacts: artifactDir(t)}
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.messages = append(b.messages, m)
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
		<-done
	})
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
	if width < 600 {
		opts = append(opts, chromedp.EmulateMobile)
	}
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(width, height, opts...)))
	return b
}

// artifactDir is where the screenshots go: $LOYALTY_ARTIFACTS/console/<test>, or the same under
// the system's temporary folder; the test logs it.
func artifactDir(t *testing.T) string {
	base := os.Getenv("LOYALTY_ARTIFACTS")
	if base == "" {
		base = filepath.Join(os.TempDir(), "loyalty-artifacts")
	}
	dir := filepath.Join(base, "console", strings.ReplaceAll(t.Name(), "/", "_"))
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.MkdirAll(dir, 0o755))
	t.Logf("screenshots: %s", dir)
	return dir
}

func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	require.NoError(b.t, chromedp.Do(b.ctx, actions...))
}

func (b *browser) open(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base + path))
}

// eval runs a JavaScript expression in the page.
func eval[T any](b *browser, js string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	require.NoError(b.t, err, js)
	return v
}

// waitFor polls a JavaScript condition until it holds; a navigation in between is fine.
func (b *browser) waitFor(js string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool]("!!("+js+")"))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.screenshot("timeout")
			body, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
			b.t.Fatalf("waited %s for %s (err %v); page:\n%s", timeout, js, err, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitText waits until the element's text contains want.
func (b *browser) waitText(selector, want string, timeout time.Duration) {
	b.t.Helper()
	b.waitFor(`(document.querySelector(`+jsString(selector)+`) || {}).textContent && document.querySelector(`+
		jsString(selector)+`).textContent.includes(`+jsString(want)+`)`, timeout)
}

func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

// screenshot saves the whole page as NN-name.png.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	require.NoError(b.t, err)
	b.shots++
	path := filepath.Join(b.artifacts, strings.ReplaceAll(filepathSafe(name), " ", "-"))
	require.NoError(b.t, os.WriteFile(filepath.Join(filepath.Dir(path), twoDigits(b.shots)+"-"+filepath.Base(path)+".png"), png, 0o644))
}

func filepathSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == ':' {
			return '_'
		}
		return r
	}, s)
}

func twoDigits(n int) string {
	return string([]byte{byte('0' + n/10%10), byte('0' + n%10)})
}

// consoleErrors are the errors and exceptions the pages wrote to the browser's console.
func (b *browser) consoleErrors() []string {
	time.Sleep(200 * time.Millisecond) // the last page's messages are still on their way
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.messages {
		if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
			out = append(out, m.URL+": "+m.String())
		}
	}
	return out
}

// signIn pastes a token into the sign-in form and submits it with the keyboard.
func (b *browser) signIn(token string) {
	b.t.Helper()
	b.open("/console/login")
	b.do(chromedp.WaitVisible(chromedp.CSS("#token")), chromedp.SendKeys(chromedp.CSS("#token"), token+"\r"))
	b.waitFor(`location.pathname !== "/console/login"`, 10*time.Second)
}

func (b *browser) signOut() {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS(`form[action="/console/logout"] button`)))
	b.waitFor(`location.pathname === "/console/login"`, 10*time.Second)
}
