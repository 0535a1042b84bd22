package handlers_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// module is the import path of the portal's module.
const module = "github.com/xmpp-portal/portal"

// goPackage is what `go list -json` says of one package. Imports and Deps
// are of its non-test files only: tests may reach across the layers (a
// handlers test starts a real XMPP server and reads an export's XML).
type goPackage struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string
	Deps       []string
	Error      *struct{ Err string }
}

// TestImportRules holds the module to its split (design: "Shape"), in one
// place:
//
//  1. the web layer (handlers, views) knows nothing of XML: it imports no
//     XML or XMPP wire package (encoding/xml, mellium.im/..., internal/pie,
//     internal/xmltree); what it needs of the XMPP side comes from
//     internal/xmpp and its packages;
//  2. the XMPP side (everything under internal/xmpp) knows nothing of HTTP:
//     it imports no net/http package nor echo, and reaches no package of
//     the web side;
//  3. policy and i18n carry no HTTP status: net/http is not even among
//     their dependencies, and no name they declare (type, function,
//     constant, variable, field) holds "Status";
//  4. nothing imports upward: cmd > internal/app (wiring) > handlers >
//     views and assets > the rest of internal; a package never imports its
//     own sub-packages (they build on it); and no package but a test helper
//     imports a test helper (internal/testenv, internal/bench, */*test).
func TestImportRules(t *testing.T) {
	pkgs := listModule(t)
	have := map[string]bool{}
	for _, p := range pkgs {
		have[p.ImportPath] = true
	}
	// The rules name these packages: if one is renamed, the rules must be
	// changed with it, not pass silently.
	for _, rel := range []string{"handlers", "views", "assets", "internal/app", "internal/xmpp", "internal/i18n", "internal/policy", "internal/pie", "internal/xmltree", "internal/testenv"} {
		if !have[module+"/"+rel] {
			t.Fatalf("go list does not show %s/%s: update the import rules of arch_test.go", module, rel)
		}
	}
	if broken := importProblems(pkgs, func(p goPackage) []string { return statusNames(t, p) }); len(broken) > 0 {
		t.Errorf("the import rules of the module are broken (design, \"Shape\"; rules in handlers/arch_test.go):\n  %s", strings.Join(broken, "\n  "))
	}
}

// TestImportRulesCatch: each rule catches what it forbids, on made-up
// packages (the real ones keep them all).
func TestImportRulesCatch(t *testing.T) {
	pkg := func(rel string, imports ...string) goPackage {
		p := goPackage{ImportPath: module + "/" + rel}
		for _, imp := range imports {
			if strings.HasPrefix(imp, "~/") {
				imp = module + "/" + imp[2:]
			}
			p.Imports = append(p.Imports, imp)
			p.Deps = append(p.Deps, imp)
		}
		return p
	}
	noStatus := func(goPackage) []string { return nil }
	tests := []struct {
		name string
		pkg  goPackage
		want string // in the one problem reported
	}{
		{"handlers and encoding/xml", pkg("handlers", "encoding/xml"), "handlers imports encoding/xml: the web layer knows nothing of XML"},
		{"handlers and xmlstream", pkg("handlers", "mellium.im/xmlstream"), "handlers imports mellium.im/xmlstream"},
		{"handlers and pie", pkg("handlers", "~/internal/pie"), "handlers imports internal/pie"},
		{"views and xmltree", pkg("views", "~/internal/xmltree"), "views imports internal/xmltree"},
		{"xmpp and net/http", pkg("internal/xmpp/signup", "net/http"), "internal/xmpp/signup imports net/http: the XMPP packages know nothing of HTTP"},
		{"xmpp and httptest", pkg("internal/xmpp", "net/http/httptest"), "internal/xmpp imports net/http/httptest"},
		{"xmpp and echo", pkg("internal/xmpp/account", "github.com/labstack/echo/v4"), "imports github.com/labstack/echo/v4"},
		{"xmpp and views", pkg("internal/xmpp/migrate", "~/views"), "internal/xmpp/migrate imports views: that is upward"},
		{"policy and net/http", pkg("internal/policy", "net/http"), "internal/policy depends on net/http"},
		{"i18n and net/http", pkg("internal/i18n", "net/http"), "internal/i18n depends on net/http"},
		{"store and handlers", pkg("internal/store", "~/handlers"), "internal/store imports handlers: that is upward (handlers is above internal"},
		{"handlers and app", pkg("handlers", "~/internal/app"), "handlers imports internal/app: that is upward"},
		{"views and handlers", pkg("views", "~/handlers"), "views imports handlers: that is upward"},
		{"parent and child", pkg("internal/xmpp", "~/internal/xmpp/signup"), "internal/xmpp imports its own sub-package internal/xmpp/signup"},
		{"production and testenv", pkg("internal/abuse", "~/internal/testenv"), "internal/abuse imports the test helper internal/testenv"},
		{"production and storetest", pkg("internal/app", "~/internal/store/storetest"), "imports the test helper internal/store/storetest"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := importProblems([]goPackage{tc.pkg}, noStatus)
			if len(got) != 1 || !strings.Contains(got[0], tc.want) {
				t.Errorf("problems %q, want one with %q", got, tc.want)
			}
		})
	}
	got := importProblems([]goPackage{pkg("internal/i18n")}, func(goPackage) []string { return []string{"Status (error.go:15)"} })
	if len(got) != 1 || !strings.Contains(got[0], "internal/i18n declares Status (error.go:15): policy and i18n carry no HTTP status") {
		t.Errorf("a Status in i18n: problems %q", got)
	}
	// Allowed: downward imports, test helpers among themselves, the XMPP
	// side on XML, the web side on internal/xmpp.
	for _, p := range []goPackage{
		pkg("cmd/portal", "~/internal/app"), pkg("internal/app", "~/handlers", "~/views"), pkg("handlers", "~/internal/xmpp/migrate", "~/views", "net/http"),
		pkg("internal/xmpp/migrate", "encoding/xml", "~/internal/pie", "~/internal/xmpp"), pkg("internal/xmpp/xmpptest", "~/internal/testenv"),
		pkg("internal/policy", "mellium.im/xmpp/jid", "~/internal/i18n"),
	} {
		if got := importProblems([]goPackage{p}, noStatus); len(got) > 0 {
			t.Errorf("%s: problems %q", p.ImportPath, got)
		}
	}
}

// importProblems checks pkgs against the rules of TestImportRules;
// declaredStatus lists what a package declares that carries a status.
func importProblems(pkgs []goPackage, declaredStatus func(goPackage) []string) []string {
	var broken []string
	fail := func(format string, args ...any) {
		broken = append(broken, strings.ReplaceAll(fmt.Sprintf(format, args...), module+"/", ""))
	}
	for _, p := range pkgs {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		for _, imp := range p.Imports {
			// 1. The web layer knows nothing of XML.
			if (rel == "handlers" || rel == "views") && isXMLPackage(imp) {
				fail("%s imports %s: the web layer knows nothing of XML; what it needs of the XMPP side comes from internal/xmpp or one of its packages", p.ImportPath, imp)
			}
			// 2. The XMPP side knows nothing of HTTP.
			if under(rel, "internal/xmpp") && (imp == "net/http" || strings.HasPrefix(imp, "net/http/") || strings.HasPrefix(imp, "github.com/labstack/echo")) {
				fail("%s imports %s: the XMPP packages know nothing of HTTP; statuses and pages are the handlers' business", p.ImportPath, imp)
			}
			// 4. Nothing imports upward.
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			irel := strings.TrimPrefix(imp, module+"/")
			switch {
			case rank(irel) > rank(rel):
				fail("%s imports %s: that is upward (%s is above %s: cmd > internal/app > handlers > views, assets > internal)", p.ImportPath, imp, layer(irel), layer(rel))
			case under(irel, rel):
				fail("%s imports its own sub-package %s: sub-packages build on their parent, never the other way", p.ImportPath, imp)
			case isTestHelper(irel) && !isTestHelper(rel):
				fail("%s imports the test helper %s: production code never does", p.ImportPath, imp)
			}
		}
		if under(rel, "internal/xmpp") {
			for _, dep := range p.Deps {
				if d := strings.TrimPrefix(dep, module+"/"); d != dep && rank(d) > 1 && !slices.Contains(p.Imports, dep) {
					fail("%s depends on %s: the XMPP packages know nothing of the web side", p.ImportPath, dep)
				}
			}
		}
		// 3. Policy and i18n carry no HTTP status.
		if rel == "internal/policy" || rel == "internal/i18n" {
			if slices.Contains(p.Deps, "net/http") {
				fail("%s depends on net/http: policy and i18n carry no HTTP status; the handlers choose it (pageError, messages.go)", p.ImportPath)
			}
			for _, name := range declaredStatus(p) {
				fail("%s declares %s: policy and i18n carry no HTTP status; the handlers choose it (pageError, messages.go)", p.ImportPath, name)
			}
		}
	}
	return broken
}

// listModule is `go list -json` of every package of the module.
func listModule(t *testing.T) []goPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Dir,GoFiles,Imports,Deps,Error", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []goPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		if p.Error != nil {
			t.Fatalf("go list: %s: %s", p.ImportPath, p.Error.Err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no package")
	}
	return pkgs
}

// isXMLPackage reports whether imp reads or writes XML or XMPP's wire
// format.
func isXMLPackage(imp string) bool {
	return imp == "encoding/xml" || strings.HasPrefix(imp, "mellium.im/") ||
		imp == module+"/internal/pie" || imp == module+"/internal/xmltree"
}

// under reports whether rel is dir or inside it.
func under(rel, dir string) bool { return rel == dir || strings.HasPrefix(rel, dir+"/") }

// rank is the layer of a package of the module: higher layers import lower
// ones, never the other way.
func rank(rel string) int {
	switch {
	case under(rel, "cmd"):
		return 5
	case under(rel, "internal/app"):
		return 4
	case under(rel, "handlers"):
		return 3
	case under(rel, "views"), under(rel, "assets"):
		return 2
	}
	return 1
}

func layer(rel string) string {
	return [...]string{1: "internal", 2: "views/assets", 3: "handlers", 4: "internal/app", 5: "cmd"}[rank(rel)]
}

// isTestHelper reports whether rel is a package that only tests use: the
// harness (internal/testenv), the benchmark and resilience driver
// (internal/bench) and, by Go's convention (net/http/httptest), packages
// whose name ends in "test" (internal/store/storetest,
// internal/xmpp/xmpptest).
func isTestHelper(rel string) bool {
	return under(rel, "internal/testenv") || under(rel, "internal/bench") || strings.HasSuffix(rel, "test")
}

// statusNames are the names declared in p's non-test files that carry a
// status: types, functions, constants, variables and struct fields whose
// name has "Status" in it.
func statusNames(t *testing.T, p goPackage) []string {
	t.Helper()
	var names []string
	fset := token.NewFileSet()
	for _, name := range p.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			var ids []*ast.Ident
			switch n := n.(type) {
			case *ast.TypeSpec:
				ids = []*ast.Ident{n.Name}
			case *ast.FuncDecl:
				ids = []*ast.Ident{n.Name}
			case *ast.ValueSpec:
				ids = n.Names
			case *ast.Field:
				ids = n.Names
			}
			for _, id := range ids {
				if strings.Contains(id.Name, "Status") {
					pos := fset.Position(id.Pos())
					names = append(names, fmt.Sprintf("%s (%s:%d)", id.Name, filepath.Base(pos.Filename), pos.Line))
				}
			}
			return true
		})
	}
	sort.Strings(names)
	return slices.Compact(names)
}
