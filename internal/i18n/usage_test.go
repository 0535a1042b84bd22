package i18n

import (
	"bufio"
	"fmt"
	"go/scanner"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// use is one place a key is used.
type use struct {
	key string
	pos string // file:line, relative to the repository root
}

// repoRoot walks up from the package directory to the directory holding go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the package directory")
		}
		dir = parent
	}
}

// skipDir reports whether the walk should not enter dir.
func skipDir(root, path, name string) bool {
	if path == root {
		return false
	}
	if name == "testdata" || name == "vendor" || name == "node_modules" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
		return true
	}
	// A nested module is not part of this repository's code.
	_, err := os.Stat(filepath.Join(path, "go.mod"))
	return err == nil
}

var (
	// templateAction finds {{ ... }} actions, across lines.
	templateAction = regexp.MustCompile(`(?s)\{\{(.*?)\}\}`)
	// templateT finds a call of t with a literal key inside an action:
	// {{t "k"}}, {{ t "k" .X }}, (t "k"), {{ $x := t "k" }}, {{ x | t "k" }}.
	templateT = regexp.MustCompile("(?:^|[\\s(|=-])t\\s+(\"(?:[^\"\\\\]|\\\\.)*\"|`[^`]*`)")
)

// templateUses returns the literal keys passed to t in a template.
func templateUses(rel string, src []byte) ([]use, error) {
	var uses []use
	for _, loc := range templateAction.FindAllSubmatchIndex(src, -1) {
		action := src[loc[2]:loc[3]]
		if strings.HasPrefix(strings.TrimLeft(string(action), "- "), "/*") {
			continue // {{/* comment */}}: a key mentioned here is not used
		}
		for _, m := range templateT.FindAllSubmatchIndex(action, -1) {
			key, err := strconv.Unquote(string(action[m[2]:m[3]]))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", rel, err)
			}
			line := 1 + strings.Count(string(src[:loc[2]+m[2]]), "\n")
			uses = append(uses, use{key, fmt.Sprintf("%s:%d", rel, line)})
		}
	}
	return uses, nil
}

// goUses returns the literal keys in i18n.K("...") calls of a Go file, and in
// K("...") calls if the file belongs to package i18n. Comments and strings
// are tokens of their own, so a K( in a comment does not count.
func goUses(rel string, src []byte, inPackage bool) []use {
	fset := token.NewFileSet()
	file := fset.AddFile(rel, -1, len(src))
	var s scanner.Scanner
	s.Init(file, src, nil, 0) // errors are ignored: half-written files are scanned as far as they go

	type tok struct {
		t   token.Token
		lit string
		pos token.Pos
	}
	var win [5]tok // the last five tokens: i18n . K ( "key"
	var uses []use
	for {
		pos, t, lit := s.Scan()
		if t == token.EOF {
			break
		}
		copy(win[:], win[1:])
		win[4] = tok{t, lit, pos}
		if win[4].t != token.STRING || win[3].t != token.LPAREN || win[2].t != token.IDENT || win[2].lit != "K" {
			continue
		}
		qualified := win[1].t == token.PERIOD && win[0].t == token.IDENT && win[0].lit == "i18n"
		unqualified := inPackage && win[1].t != token.PERIOD
		if !qualified && !unqualified {
			continue
		}
		key, err := strconv.Unquote(win[4].lit)
		if err != nil {
			continue
		}
		uses = append(uses, use{key, fmt.Sprintf("%s:%d", rel, fset.Position(win[4].pos).Line)})
	}
	return uses
}

// scanUses finds every key use in the repository.
func scanUses(t *testing.T) []use {
	t.Helper()
	root := repoRoot(t)
	pkgDir := filepath.Join(root, "internal", "i18n")
	var uses []use
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if skipDir(root, path, d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		switch {
		case strings.HasSuffix(path, ".go"):
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			uses = append(uses, goUses(rel, src, filepath.Dir(path) == pkgDir)...)
		case strings.HasPrefix(rel, "views/") && (strings.HasSuffix(path, ".html") || strings.HasSuffix(path, ".tmpl")):
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			u, err := templateUses(rel, src)
			if err != nil {
				return err
			}
			uses = append(uses, u...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return uses
}

// dynamicPrefixes reads catalogs/dynamic.txt.
func dynamicPrefixes(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("catalogs", "dynamic.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var prefixes []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		prefixes = append(prefixes, line)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return prefixes
}

// TestUsedKeysExist is check (b): every key used in views or Go code exists.
func TestUsedKeysExist(t *testing.T) {
	b := mustLoad(t)
	uses := scanUses(t)
	if len(uses) == 0 {
		t.Fatal("the scan found no key uses at all; is the scanner broken?")
	}
	for _, u := range uses {
		if _, ok := b.messages[Fallback][u.key]; !ok {
			t.Errorf("%s: key %q is not in catalogs/%s", u.pos, u.key, Fallback)
		}
	}
}

// TestNoUnusedKeys is check (c): every key is used, unless it is under a
// prefix listed in catalogs/dynamic.txt.
func TestNoUnusedKeys(t *testing.T) {
	b := mustLoad(t)
	used := make(map[string]bool)
	for _, u := range scanUses(t) {
		used[u.key] = true
	}
	prefixes := dynamicPrefixes(t)
	for _, k := range b.Keys(Fallback) {
		if used[k] || slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(k, p) }) {
			continue
		}
		t.Errorf("key %q is never used (no {{ t %q }} in views/, no i18n.K(%q) in Go code); remove it, or list its prefix in catalogs/dynamic.txt if it is built at run time", k, k, k)
	}
}

// TestDynamicPrefixes keeps dynamic.txt tidy: prefixes end in "." and each
// covers at least one key.
func TestDynamicPrefixes(t *testing.T) {
	b := mustLoad(t)
	keys := b.Keys(Fallback)
	for _, p := range dynamicPrefixes(t) {
		if !strings.HasSuffix(p, ".") {
			t.Errorf("dynamic prefix %q must end in \".\"", p)
		}
		if !slices.ContainsFunc(keys, func(k string) bool { return strings.HasPrefix(k, p) }) {
			t.Errorf("dynamic prefix %q covers no key; remove it", p)
		}
	}
}

func TestScanners(t *testing.T) {
	tmpl := []byte("<h1>{{t \"a.title\"}}</h1>\n<p>{{ t \"b.text\" .Name }}</p>\n" +
		"{{- t `c.raw` -}}\n{{ printf \"%s\" (t \"d.nested\") }}\n{{ $x := t \"e.var\" }}\n" +
		"<p>Don't \"quote\" me</p>{{ .t \"no.field\" }}{{ template \"no.tmpl\" }}\n{{/* t \"f.comment\" */}}")
	got, err := templateUses("views/x.html", tmpl)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, u := range got {
		keys = append(keys, u.key)
	}
	want := []string{"a.title", "b.text", "c.raw", "d.nested", "e.var"}
	if !slices.Equal(keys, want) {
		t.Errorf("templateUses = %v, want %v", keys, want)
	}
	if got[1].pos != "views/x.html:2" {
		t.Errorf("position = %q, want views/x.html:2", got[1].pos)
	}

	src := []byte("package x\n// i18n.K(\"in.comment\")\nvar a = i18n.K(\"a.key\")\nvar b = K(\"b.key\")\nvar c = other.K(\"c.key\")\nvar d = i18n.K(`d.raw`)\nvar e = \"i18n.K(\\\"in.string\\\")\"\n")
	for _, tc := range []struct {
		inPackage bool
		want      []string
	}{
		{false, []string{"a.key", "d.raw"}},
		{true, []string{"a.key", "b.key", "d.raw"}},
	} {
		var keys []string
		for _, u := range goUses("x.go", src, tc.inPackage) {
			keys = append(keys, u.key)
		}
		if !slices.Equal(keys, tc.want) {
			t.Errorf("goUses(inPackage=%v) = %v, want %v", tc.inPackage, keys, tc.want)
		}
	}
}
