// Command casecover completes a Go coverage profile for gremlins (scripts/mutate/mutate.sh).
//
// Go's coverage gives no block to the conditions of a tagless switch's cases nor to constant
// declarations, so gremlins 0.6 reports every mutant in them as NOT COVERED and never runs it,
// however well the tests exercise them (go-gremlins/gremlins#298; the rule below is the one
// proposed in #299). This adds a block for a case's conditions when the first statement of that
// case's body ran (for a case with an empty body: when the switch ran), and one for each
// constant declaration of a package that has any covered block. The mutants there are then run
// and must be killed like any other; nothing is marked killed here.
//
// Usage: casecover PROFILE MODULE_DIR (the profile is rewritten in place).
package main

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

type block struct {
	file                  string // as in the profile: import path + file name
	sl, sc, el, ec, stmts int
	count                 int
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: casecover PROFILE MODULE_DIR")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "casecover:", err)
		os.Exit(1)
	}
}

func run(profile, moduleDir string) error {
	raw, err := os.ReadFile(profile)
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "mode:") {
		return fmt.Errorf("%s: not a coverage profile", profile)
	}
	module, err := modulePath(moduleDir)
	if err != nil {
		return err
	}
	var blocks []block
	for _, l := range lines[1:] {
		b, err := parseBlock(l)
		if err != nil {
			return err
		}
		blocks = append(blocks, b)
	}
	covered := map[string][]block{}
	for _, b := range blocks {
		if b.count > 0 {
			covered[b.file] = append(covered[b.file], b)
		}
	}
	pkgCovered := map[string]bool{}
	for f := range covered {
		pkgCovered[filepath.Dir(f)] = true
	}

	var extra []string
	fset := token.NewFileSet()
	files := map[string]bool{}
	for _, b := range blocks {
		files[b.file] = true
	}
	for f := range files {
		rel := strings.TrimPrefix(strings.TrimPrefix(f, module), "/")
		src, err := parser.ParseFile(fset, filepath.Join(moduleDir, rel), nil, 0)
		if err != nil {
			return err
		}
		add := func(from, to token.Pos) {
			p, q := fset.Position(from), fset.Position(to)
			extra = append(extra, fmt.Sprintf("%s:%d.%d,%d.%d 0 1", f, p.Line, p.Column, q.Line, q.Column))
		}
		ast.Inspect(src, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SwitchStmt:
				for _, s := range n.Body.List {
					cc := s.(*ast.CaseClause)
					if len(cc.List) == 0 {
						continue
					}
					// A case with an empty body leaves no trace of its own: count it as run when
					// the switch ran (at worst a mutant is run that could not be reached, and
					// then it shows as LIVED, never as killed).
					at := n.Pos()
					if len(cc.Body) > 0 {
						at = cc.Body[0].Pos()
					}
					if ran(covered[f], fset.Position(at)) {
						add(cc.List[0].Pos(), cc.Colon)
					}
				}
			case *ast.GenDecl:
				if n.Tok == token.CONST && pkgCovered[filepath.Dir(f)] {
					add(n.Pos(), n.End())
				}
			}
			return true
		})
	}
	out := append(lines, extra...)
	return os.WriteFile(profile, []byte(strings.Join(out, "\n")+"\n"), 0o644)
}

// ran reports whether a covered block starts at or contains the position.
func ran(blocks []block, p token.Position) bool {
	for _, b := range blocks {
		after := p.Line > b.sl || (p.Line == b.sl && p.Column >= b.sc)
		before := p.Line < b.el || (p.Line == b.el && p.Column <= b.ec)
		if after && before {
			return true
		}
	}
	return false
}

// parseBlock reads "file:sl.sc,el.ec stmts count".
func parseBlock(l string) (block, error) {
	colon := strings.LastIndex(l, ":")
	if colon < 0 {
		return block{}, fmt.Errorf("bad profile line %q", l)
	}
	var b block
	b.file = l[:colon]
	if _, err := fmt.Sscanf(l[colon+1:], "%d.%d,%d.%d %d %d", &b.sl, &b.sc, &b.el, &b.ec, &b.stmts, &b.count); err != nil {
		return block{}, fmt.Errorf("bad profile line %q: %w", l, err)
	}
	return b, nil
}

func modulePath(dir string) (string, error) {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "module "); ok {
			if p, err := strconv.Unquote(strings.TrimSpace(rest)); err == nil {
				return p, nil
			}
			return strings.TrimSpace(rest), nil
		}
	}
	return "", fmt.Errorf("%s/go.mod: no module line", dir)
}
