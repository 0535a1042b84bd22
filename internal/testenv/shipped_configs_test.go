package testenv

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// templatePattern turns a deploy/ template into a regular expression that a
// rendered copy must match: everything verbatim except the @NAME@
// placeholders, each of which may become any text within its line.
func templatePattern(tmpl []byte) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`\A`)
	last := 0
	for _, m := range placeholderRE.FindAllIndex(tmpl, -1) {
		b.WriteString(regexp.QuoteMeta(string(tmpl[last:m[0]])))
		if ejabberdBuiltinMacros[string(tmpl[m[0]:m[1]])] {
			b.WriteString(regexp.QuoteMeta(string(tmpl[m[0]:m[1]])))
		} else {
			b.WriteString(`[^\n]*`)
		}
		last = m[1]
	}
	b.WriteString(regexp.QuoteMeta(string(tmpl[last:])))
	b.WriteString(`\z`)
	return regexp.MustCompile(b.String())
}

func TestTemplatePattern(t *testing.T) {
	re := templatePattern([]byte("port: @PORT@\nhost: @HOST@\nx: 1\n"))
	for in, want := range map[string]bool{
		"port: 5222\nhost: @HOST@\nx: 1\n":       true,
		"port: 5222\nhost: example\nx: 1\n":      false, // ejabberd's own macro must stay
		"port: 5222\nhost: @HOST@\nx: 2\n":       false, // a changed setting
		"port: 5222\nhost: @HOST@\nx: 1\ny: 2\n": false, // an added setting
		"port: 1\n2\nhost: @HOST@\nx: 1\n":       false, // a value spanning lines
	} {
		if got := re.MatchString(in); got != want {
			t.Errorf("match(%q) = %v, want %v", in, got, want)
		}
	}
}

// TestServersRunTheShippedConfigs starts one server per shipped
// configuration file and proves that the configuration the server actually
// runs with came from deploy/: Prosody's is the shipped file byte for byte;
// ejabberd's is the shipped template with only its placeholders filled in.
// It fails if the harness ever starts a server from a file outside deploy/
// or edits a shipped file beyond its placeholders.
func TestServersRunTheShippedConfigs(t *testing.T) {
	_, deploy := repoDeploy(t)
	inDeploy := func(t *testing.T, p string) {
		t.Helper()
		rel, err := filepath.Rel(deploy, p)
		if err != nil || strings.HasPrefix(rel, "..") || filepath.IsAbs(rel) {
			t.Fatalf("server configuration %q is not under %s", p, deploy)
		}
	}
	read := func(t *testing.T, p string) []byte {
		t.Helper()
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	tests := []struct {
		name    string
		start   func(testing.TB, Options) *Server
		mode    string
		shipped string // under deploy/
		running string // under Server.Dir
		exact   bool   // byte for byte (Prosody) or template match (ejabberd)
	}{
		{"prosody", StartProsody, ModeAdmin, "prosody/prosody.cfg.lua", "prosody.cfg.lua", true},
		{"ejabberd admin", StartEjabberd, ModeAdmin, "ejabberd/ejabberd.yml", "ejabberd.yml", false},
		{"ejabberd ibr", StartEjabberd, ModeIBR, "ejabberd/ejabberd-ibr.yml", "ejabberd.yml", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.start(t, Options{Mode: tc.mode})
			inDeploy(t, s.ConfigSource)
			if want := filepath.Join(deploy, tc.shipped); s.ConfigSource != want {
				t.Errorf("ConfigSource = %s, want %s", s.ConfigSource, want)
			}
			shipped := read(t, filepath.Join(deploy, tc.shipped))
			running := read(t, filepath.Join(s.Dir, tc.running))
			if tc.exact {
				if !bytes.Equal(shipped, running) {
					t.Errorf("%s runs a configuration that differs from deploy/%s", tc.name, tc.shipped)
				}
			} else if !templatePattern(shipped).Match(running) {
				t.Errorf("%s runs a configuration that is not deploy/%s with its placeholders filled in", tc.name, tc.shipped)
			}
			if !tc.exact {
				ctl := read(t, filepath.Join(s.Dir, "ejabberdctl.cfg"))
				if !templatePattern(read(t, filepath.Join(deploy, "ejabberd", "ejabberdctl.cfg"))).Match(ctl) {
					t.Errorf("ejabberdctl.cfg is not deploy/ejabberd/ejabberdctl.cfg with its placeholders filled in")
				}
			}
		})
	}
}
