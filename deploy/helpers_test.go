package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/xmpp-portal/portal/internal/config"
)

// repoRoot is the repository root (the tests run in deploy/).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod in %s", root)
	}
	return root
}

func readFile(t *testing.T, parts ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(parts...))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// needTool returns the path of a program the test needs. Without it the test
// is skipped, or fails when CI is set (scripts/install-deps.sh installs it).
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin"} {
		if st, err := os.Stat(filepath.Join(dir, name)); err == nil && !st.IsDir() {
			return filepath.Join(dir, name)
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed (scripts/install-deps.sh installs it)", name)
	}
	t.Skipf("%s is not installed", name)
	return ""
}

// configKey is one row of config.Reference.
type configKey struct {
	Key, Env, Default string
	Secret            bool
}

var refRow = regexp.MustCompile("^\\| `([^`]+)` \\| `([^`]+)`( or `[^`]+_FILE`)? \\| (`([^`]*)`)? \\|")

// configKeys returns every configuration key with its environment variable
// and default, as config.Reference documents them.
func configKeys(t *testing.T) []configKey {
	t.Helper()
	var b bytes.Buffer
	config.Reference(&b)
	var keys []configKey
	for _, line := range strings.Split(b.String(), "\n") {
		m := refRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		keys = append(keys, configKey{Key: m[1], Env: m[2], Secret: m[3] != "", Default: m[5]})
	}
	if len(keys) < 20 {
		t.Fatalf("only %d keys parsed from config.Reference:\n%s", len(keys), b.String())
	}
	return keys
}

var varRE = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// interpolate expands ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?msg},
// ${VAR?msg}, $VAR and $$ the way docker compose does, with env as the
// environment (a missing variable is unset).
func interpolate(s string, env map[string]string) (string, error) {
	var errs []string
	out := varRE.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		g := varRE.FindStringSubmatch(m)
		name := g[1]
		if name == "" {
			name = g[4]
		}
		v, set := env[name]
		switch g[2] {
		case ":-":
			if v == "" {
				return g[3]
			}
		case "-":
			if !set {
				return g[3]
			}
		case ":?":
			if v == "" {
				errs = append(errs, fmt.Sprintf("%s: %s", name, g[3]))
			}
		case "?":
			if !set {
				errs = append(errs, fmt.Sprintf("%s: %s", name, g[3]))
			}
		}
		return v
	})
	if len(errs) > 0 {
		return "", fmt.Errorf("required variables missing: %s", strings.Join(errs, "; "))
	}
	return out, nil
}

func TestInterpolate(t *testing.T) {
	env := map[string]string{"A": "a", "E": ""}
	tests := []struct {
		in, want string
		err      bool
	}{
		{"${A}-$A-$$A", "a-a-$A", false},
		{"${B:-def}|${E:-def}|${E-def}|${B-def}", "def|def||def", false},
		{"x${A:?need A}", "xa", false},
		{"${B:?set B}", "", true},
		{"${E:?set E}", "", true},
		{"${E?set E}", "", false},
		{"no vars", "no vars", false},
	}
	for _, tc := range tests {
		got, err := interpolate(tc.in, env)
		if (err != nil) != tc.err || (err == nil && got != tc.want) {
			t.Errorf("interpolate(%q) = %q, %v; want %q (error %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// templatePattern matches a rendered copy of a deploy/ template: everything
// verbatim except the @NAME@ placeholders (not ejabberd's own @HOST@),
// each of which may become any text within its line.
func templatePattern(tmpl string) *regexp.Regexp {
	ph := regexp.MustCompile(`@[A-Z][A-Z0-9_]*@`)
	var b strings.Builder
	b.WriteString(`\A`)
	last := 0
	for _, m := range ph.FindAllStringIndex(tmpl, -1) {
		b.WriteString(regexp.QuoteMeta(tmpl[last:m[0]]))
		if tmpl[m[0]:m[1]] == "@HOST@" {
			b.WriteString("@HOST@")
		} else {
			b.WriteString(`[^\n]*`)
		}
		last = m[1]
	}
	b.WriteString(regexp.QuoteMeta(tmpl[last:]))
	b.WriteString(`\z`)
	return regexp.MustCompile(b.String())
}
