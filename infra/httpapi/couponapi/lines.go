package couponapi

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/loyaltyforge/loyalty/infra/httpapi"
)

// lineReader streams the user ids of an uploaded file, one a line, without holding the file:
// blank lines are skipped, a first line "user_id" is a header, and of a line with several CSV
// fields only the first counts (quotes and spaces around it are dropped).
type lineReader struct {
	r      *bufio.Reader
	n      int // current line number
	header bool
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// maxLine bounds one line; a user id is at most 64 characters.
const maxLine = 4 << 10

// next returns the next user id entry, or io.EOF.
func (l *lineReader) next() (string, error) {
	for {
		raw, err := l.readLine()
		if err != nil && (raw == "" || !errors.Is(err, io.EOF)) {
			return "", err
		}
		l.n++
		line := raw
		if l.n == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		if i := strings.IndexByte(line, ','); i >= 0 {
			line = line[:i]
		}
		line = strings.Trim(strings.TrimSpace(line), `"`)
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if !l.header {
			l.header = true
			if strings.EqualFold(line, "user_id") {
				continue
			}
		}
		return line, nil
	}
}

func (l *lineReader) readLine() (string, error) {
	var b strings.Builder
	for {
		chunk, isPrefix, err := l.r.ReadLine()
		b.Write(chunk)
		if b.Len() > maxLine {
			// No user id is this long: the body is not the file the contract describes.
			return "", httpapi.BadRequest("line %d is longer than %d bytes", l.n+1, maxLine)
		}
		if err != nil {
			return b.String(), err
		}
		if !isPrefix {
			return b.String(), nil
		}
	}
}

// where names the current line for a 422.
func (l *lineReader) where() string { return fmt.Sprintf("line %d", l.n) }

// endOK turns the end of the file into a clean stop.
func endOK(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}
