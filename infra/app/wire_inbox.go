package app

// wireInbox is filled in by the inbox feature.
func (a *App) wireInbox() error { return nil }
