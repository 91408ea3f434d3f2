package hotstream

import "time"

// SetIdle shortens how long an idle stream keeps its goroutine and cache. Call it before the
// first Do: the stream goroutines read the field without a lock.
func SetIdle(w *Writer, d time.Duration) { w.idle = d }

// Active is how many streams have a live goroutine.
func Active(w *Writer) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.streams)
}

// Queued is how many requests wait for the stream's goroutine (0 when it is not active).
func Queued(w *Writer, stream string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if h, ok := w.streams[stream]; ok {
		return len(h.reqs)
	}
	return 0
}
