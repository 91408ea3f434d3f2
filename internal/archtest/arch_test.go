// Package archtest keeps the import rules of DESIGN.md: the domain imports nothing of ours and
// no infrastructure; commands, projections and readmodels know no database, bus or web driver.
package archtest

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/loyaltyforge/loyalty/"

var infraPrefixes = []string{
	"github.com/jackc/", "github.com/nats-io/", "github.com/labstack/",
	"github.com/EventStore/", "github.com/pressly/", "net/http",
}

func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

type imp struct{ file, path string }

func importsUnder(t *testing.T, dir string, withTests bool) []imp {
	var out []imp
	root := filepath.Join(repoRoot(t), dir)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") {
			return err
		}
		if !withTests && strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, s := range f.Imports {
			path, _ := strconv.Unquote(s.Path.Value)
			out = append(out, imp{p, path})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDomainImportsOnlyTheStandardLibraryAndDomain(t *testing.T) {
	list := importsUnder(t, "domain", false)
	if len(list) == 0 {
		t.Fatal("no domain imports found: wrong root?")
	}
	for _, i := range list {
		first := strings.SplitN(i.path, "/", 2)[0]
		ours := strings.HasPrefix(i.path, module+"domain/")
		if strings.Contains(first, ".") && !ours {
			t.Errorf("%s imports %s: the domain uses the standard library only", i.file, i.path)
		}
		if strings.HasPrefix(i.path, module) && !ours {
			t.Errorf("%s imports %s: the domain imports nothing outside domain/", i.file, i.path)
		}
	}
}

func TestInnerLayersKnowNoInfrastructure(t *testing.T) {
	for _, dir := range []string{"commands", "projections", "readmodels"} {
		for _, i := range importsUnder(t, dir, false) {
			for _, bad := range infraPrefixes {
				if strings.HasPrefix(i.path, bad) {
					t.Errorf("%s imports %s: only infra/ and cmd/ may", i.file, i.path)
				}
			}
			if strings.HasPrefix(i.path, module+"infra/") || strings.HasPrefix(i.path, module+"cmd/") {
				t.Errorf("%s imports %s: imports point inward", i.file, i.path)
			}
			if dir != "commands" && strings.HasPrefix(i.path, module+"commands") {
				t.Errorf("%s imports %s: the read side depends on the domain, not on command handlers", i.file, i.path)
			}
		}
	}
}
