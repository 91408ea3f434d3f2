package points

// BooksPending is how many accounts h's closer has queued or is closing, so tests can tell
// when it has nothing left to do.
func BooksPending(h *Handler) int64 { return h.booksPending.Load() }
