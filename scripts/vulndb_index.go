//go:build ignore

// Command vulndb_index builds the Go vulnerability database layout that
// `govulncheck -db file:///DIR` reads (the "v1" schema of
// https://go.dev/doc/security/vuln/database) from a folder of OSV files, such
// as data/osv/ of the golang.org/x/vulndb module. scripts/vulncheck.sh runs
// it:
//
//	go run scripts/vulndb_index.go -osv <x/vulndb>/data/osv -out DIR
//
// It writes
//
//	DIR/index/db.json       {"modified": newest entry's modified}
//	DIR/index/modules.json  [{"path": module, "vulns": [{"id", "modified", "fixed"}]}]
//	DIR/index/vulns.json    [{"id", "modified", "aliases"}]
//	DIR/ID/<id>.json        each OSV entry, byte for byte
//
// x/vulndb's own cmd/indexdb writes the same layout, but building it compiles
// that module's dependencies (go-git, Google Cloud clients): about 100 s on a
// busy 2-core machine, against a few seconds for this file, which needs only
// the standard library. Its index holds the same modules, IDs, aliases and
// "fixed" versions as indexdb's (checked on x/vulndb
// v0.0.0-20261105234957-e22db6528018, and govulncheck's findings on the
// portal were identical with either database). "fixed" is computed as
// indexdb does (osvutils.LatestFixed): the newest SEMVER fix of the entry's
// ranges for that module, or none if the vulnerability was introduced again
// after it; govulncheck reads an entry only for module versions before it.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// entry is the part of an OSV entry the index needs.
type entry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
	Affected []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
		Ranges []struct {
			Type   string `json:"type"`
			Events []struct {
				Introduced string `json:"introduced,omitempty"`
				Fixed      string `json:"fixed,omitempty"`
			} `json:"events"`
		} `json:"ranges"`
	} `json:"affected"`
}

type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Fixed    string    `json:"fixed,omitempty"`
}

type module struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

type vuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
}

func main() {
	osvDir := flag.String("osv", "", "folder of OSV JSON files (<ID>.json)")
	out := flag.String("out", "", "folder to write the database to (created)")
	flag.Parse()
	if *osvDir == "" || *out == "" {
		log.Fatal("vulndb_index: -osv and -out are required")
	}
	if err := run(*osvDir, *out); err != nil {
		log.Fatal("vulndb_index: ", err)
	}
}

func run(osvDir, out string) error {
	files, err := filepath.Glob(filepath.Join(osvDir, "*.json"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no OSV files in %s", osvDir)
	}
	for _, d := range []string{"index", "ID"} {
		if err := os.MkdirAll(filepath.Join(out, d), 0o755); err != nil {
			return err
		}
	}
	var (
		newest  time.Time
		vulns   []vuln
		modules = map[string]*module{}
		seen    = map[string]bool{}
	)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var e entry
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("%s: %v", f, err)
		}
		if e.ID == "" || filepath.Base(f) != e.ID+".json" {
			return fmt.Errorf("%s: the file name is not the entry's id %q", f, e.ID)
		}
		if seen[e.ID] {
			return fmt.Errorf("%s: id %s twice", f, e.ID)
		}
		seen[e.ID] = true
		if e.Modified.After(newest) {
			newest = e.Modified
		}
		vulns = append(vulns, vuln{ID: e.ID, Modified: e.Modified, Aliases: e.Aliases})
		for _, a := range e.Affected {
			p := a.Package.Name
			if p == "" {
				continue
			}
			// The newest fix not superseded by a later introduction.
			fixed := ""
			for _, r := range a.Ranges {
				if r.Type != "SEMVER" {
					continue
				}
				for _, ev := range r.Events {
					if ev.Fixed != "" && semverLess(fixed, ev.Fixed) {
						fixed = ev.Fixed
					}
				}
				for _, ev := range r.Events {
					if ev.Introduced != "" && ev.Introduced != "0" && semverLess(fixed, ev.Introduced) {
						fixed = ""
						break
					}
				}
			}
			m := modules[p]
			if m == nil {
				m = &module{Path: p}
				modules[p] = m
			}
			m.Vulns = append(m.Vulns, moduleVuln{ID: e.ID, Modified: e.Modified, Fixed: fixed})
		}
		if err := os.WriteFile(filepath.Join(out, "ID", e.ID+".json"), raw, 0o644); err != nil {
			return err
		}
	}
	sort.Slice(vulns, func(i, j int) bool { return vulns[i].ID < vulns[j].ID })
	var mods []*module
	for _, m := range modules {
		sort.Slice(m.Vulns, func(i, j int) bool { return m.Vulns[i].ID < m.Vulns[j].ID })
		mods = append(mods, m)
	}
	sort.Slice(mods, func(i, j int) bool { return strings.Compare(mods[i].Path, mods[j].Path) < 0 })
	for name, v := range map[string]any{
		"db.json":      map[string]time.Time{"modified": newest},
		"modules.json": mods,
		"vulns.json":   vulns,
	} {
		var b bytes.Buffer
		if err := json.NewEncoder(&b).Encode(v); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, "index", name), b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("vulndb_index: %d entries, %d modules\n", len(vulns), len(mods))
	return nil
}

// semverLess reports whether version a sorts before b by Semantic Versioning
// 2.0.0 precedence, for OSV's versions without a leading "v" (1.2.3,
// 0.0.0-20200101000000-abcdef). An invalid version (such as "") sorts before
// every valid one, as in golang.org/x/mod/semver, which indexdb uses.
func semverLess(a, b string) bool {
	va, vb := parseSemver(a), parseSemver(b)
	switch {
	case va == nil:
		return vb != nil
	case vb == nil:
		return false
	}
	for i := 0; i < 3; i++ {
		if c := compareNumeric(va.core[i], vb.core[i]); c != 0 {
			return c < 0
		}
	}
	// A version with a pre-release sorts before the same one without.
	if va.pre == nil || vb.pre == nil {
		return va.pre != nil && vb.pre == nil
	}
	for i := 0; i < len(va.pre) && i < len(vb.pre); i++ {
		x, y := va.pre[i], vb.pre[i]
		xn, yn := isNumeric(x), isNumeric(y)
		switch {
		case xn && yn:
			if c := compareNumeric(x, y); c != 0 {
				return c < 0
			}
		case xn != yn:
			return xn // numeric identifiers sort before alphanumeric ones
		case x != y:
			return x < y
		}
	}
	return len(va.pre) < len(vb.pre)
}

type semver struct {
	core [3]string // major, minor, patch: digits, no leading zero
	pre  []string  // pre-release identifiers; nil for none
}

func parseSemver(v string) *semver {
	if i := strings.IndexByte(v, '+'); i >= 0 {
		v = v[:i] // build metadata does not count
	}
	var s semver
	if i := strings.IndexByte(v, '-'); i >= 0 {
		s.pre = strings.Split(v[i+1:], ".")
		v = v[:i]
		for _, id := range s.pre {
			if id == "" || strings.Trim(id, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-") != "" {
				return nil
			}
		}
	}
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return nil
	}
	for i, p := range parts {
		if !isNumeric(p) || (len(p) > 1 && p[0] == '0') {
			return nil
		}
		s.core[i] = p
	}
	return &s
}

func isNumeric(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// compareNumeric compares two strings of digits as numbers, of any length.
func compareNumeric(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}
