package couponapi

import "io"

// Lines reads an uploaded user-id file the way the allowlist and issuance routes do (for the
// web console's uploads, so a file means the same there as through the API).
type Lines struct{ l *lineReader }

// NewLines reads r.
func NewLines(r io.Reader) Lines { return Lines{newLineReader(r)} }

// Next returns the next user id entry, or io.EOF.
func (l Lines) Next() (string, error) { return l.l.next() }

// Where names the current line for an error ("line 7").
func (l Lines) Where() string { return l.l.where() }
