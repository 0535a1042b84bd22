package deploy

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// composeEnv is the environment the compose file is read with: only what
// docs/operators.md says must be set (everything else takes its default).
var composeEnv = map[string]string{"XMPP_DOMAIN": "example.org"}

type service struct {
	name string
	m    map[string]any
}

func (s service) str(key string) string {
	v, _ := s.m[key].(string)
	return v
}

func (s service) list(key string) []string {
	var out []string
	switch v := s.m[key].(type) {
	case []any:
		for _, x := range v {
			switch y := x.(type) {
			case string:
				out = append(out, y)
			case map[string]any: // long syntax: source / target
				if src, ok := y["source"].(string); ok {
					out = append(out, src)
				}
			}
		}
	case map[string]any:
		for k := range v {
			out = append(out, k)
		}
		sort.Strings(out)
	}
	return out
}

// env returns the service's environment (map or KEY=value list form).
func (s service) env() map[string]string {
	out := map[string]string{}
	switch v := s.m["environment"].(type) {
	case map[string]any:
		for k, x := range v {
			if x == nil {
				out[k] = ""
				continue
			}
			out[k], _ = x.(string)
		}
	case []any:
		for _, x := range v {
			k, val, _ := strings.Cut(x.(string), "=")
			out[k] = val
		}
	}
	return out
}

type composeFile struct {
	top      map[string]any
	services map[string]service
}

func loadCompose(t *testing.T, path string) composeFile {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text, err := interpolate(string(raw), composeEnv)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var top map[string]any
	if err := yaml.Unmarshal([]byte(text), &top); err != nil {
		t.Fatalf("%s does not parse: %v", path, err)
	}
	cf := composeFile{top: top, services: map[string]service{}}
	svcs, ok := top["services"].(map[string]any)
	if !ok || len(svcs) == 0 {
		t.Fatalf("%s has no services", path)
	}
	for name, v := range svcs {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("service %s is not a mapping", name)
		}
		cf.services[name] = service{name: name, m: m}
	}
	return cf
}

func (cf composeFile) names() []string {
	var out []string
	for n := range cf.services {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// pinnedImage: a registry path with a version tag (not "latest", starting
// with a version number) or a digest.
var pinnedImage = regexp.MustCompile(`^[a-z0-9][a-z0-9._/-]*(:[a-z0-9._-]*v?[0-9]+(\.[0-9]+)+[a-z0-9._-]*)?(@sha256:[0-9a-f]{64})?$`)

func isPinned(image string) bool {
	if !pinnedImage.MatchString(image) {
		return false
	}
	return strings.Contains(image, "@sha256:") || strings.Contains(image[strings.LastIndexByte(image, '/')+1:], ":")
}

func TestIsPinned(t *testing.T) {
	for image, want := range map[string]bool{
		"redis:7.2.5-alpine": true, "prosody/prosody:0.12.4": true, "ghcr.io/processone/ejabberd:23.01": true,
		"redis": false, "redis:latest": false, "redis:alpine": false, "prosody/prosody:0.12": true,
		"localhost:5000/x": false, "redis@sha256:" + strings.Repeat("a", 64): true,
	} {
		if got := isPinned(image); got != want {
			t.Errorf("isPinned(%q) = %v, want %v", image, got, want)
		}
	}
}

// operatorFiles are the files docker-compose.yml mounts that the operator
// creates (they hold secrets or certificates and are never committed).
const operatorDir = "./secrets/"

func TestComposeFile(t *testing.T) {
	root := repoRoot(t)
	cf := loadCompose(t, filepath.Join(root, "docker-compose.yml"))
	guide := readFile(t, root, "docs", "operators.md")
	gitignore := readFile(t, root, ".gitignore")

	for _, want := range []string{"portal", "redis", "prosody", "prosody-init", "ejabberd", "ejabberd-config"} {
		if _, ok := cf.services[want]; !ok {
			t.Errorf("no service %q (have %v)", want, cf.names())
		}
	}
	if _, ok := cf.top["name"]; ok {
		t.Error("top-level name: is not understood by Debian's docker-compose 1.29")
	}

	// localFile checks a host path used by the compose file.
	localFile := func(where, p string) {
		t.Helper()
		if !strings.HasPrefix(p, "./") {
			t.Errorf("%s: host path %q is not relative to the project (./...)", where, p)
			return
		}
		if strings.HasPrefix(p, operatorDir) {
			if !strings.Contains(guide, strings.TrimPrefix(p, "./")) {
				t.Errorf("%s: %s is created by the operator, but docs/operators.md does not say so", where, p)
			}
			return
		}
		st, err := os.Stat(filepath.Join(root, p))
		if err != nil {
			t.Errorf("%s: %s does not exist", where, p)
		} else if st.IsDir() && strings.Contains(where, "volume") {
			t.Errorf("%s: %s is a directory; mount single files", where, p)
		}
	}
	if !regexp.MustCompile(`(?m)^/?secrets/?$`).MatchString(gitignore) {
		t.Error(".gitignore does not ignore secrets/")
	}

	topVolumes, _ := cf.top["volumes"].(map[string]any)
	topSecrets, _ := cf.top["secrets"].(map[string]any)
	for name, v := range topSecrets {
		m, _ := v.(map[string]any)
		f, _ := m["file"].(string)
		if f == "" {
			t.Errorf("secret %s has no file", name)
			continue
		}
		localFile("secret "+name, f)
		if !strings.HasPrefix(f, operatorDir) {
			t.Errorf("secret %s lives in %s, not in %s", name, f, operatorDir)
		}
	}
	for _, want := range []string{"onion-key", "prosody-data"} {
		if _, ok := topVolumes[want]; !ok {
			t.Errorf("no named volume %q", want)
		}
	}

	// One-shot jobs are the services another waits for with
	// service_completed_successfully.
	oneShot := map[string]bool{}
	for _, s := range cf.services {
		if deps, ok := s.m["depends_on"].(map[string]any); ok {
			for dep, cond := range deps {
				if c, _ := cond.(map[string]any); c["condition"] == "service_completed_successfully" {
					oneShot[dep] = true
				}
			}
		}
	}

	keys := configKeys(t)
	knownEnv, secretEnv := map[string]bool{}, map[string]bool{}
	for _, k := range keys {
		knownEnv[k.Env] = true
		if k.Secret {
			secretEnv[k.Env] = true
		}
	}
	prosodyVars := prosodyDocumentedVars(t, root)

	for _, name := range cf.names() {
		s := cf.services[name]
		t.Run(name, func(t *testing.T) {
			// Image: built here, or pinned.
			if b, ok := s.m["build"]; ok {
				ctx := "."
				if bm, ok := b.(map[string]any); ok {
					if c, ok := bm["context"].(string); ok {
						ctx = c
					}
				} else if c, ok := b.(string); ok {
					ctx = c
				}
				if _, err := os.Stat(filepath.Join(root, ctx, "Dockerfile")); err != nil {
					t.Errorf("build context %s has no Dockerfile", ctx)
				}
			} else if img := s.str("image"); !isPinned(img) {
				t.Errorf("image %q has no pinned version tag", img)
			}

			// Health check, unless it is a one-shot job.
			restart := s.str("restart")
			if oneShot[name] {
				if restart != "no" {
					t.Errorf("one-shot job has restart %q, want \"no\"", restart)
				}
			} else {
				hc, _ := s.m["healthcheck"].(map[string]any)
				test, _ := hc["test"].([]any)
				if len(test) < 2 || test[0] == "NONE" || hc["disable"] == true {
					t.Errorf("no health check")
				}
				if restart != "unless-stopped" && restart != "always" {
					t.Errorf("restart %q: a long-running service should restart", restart)
				}
			}

			// Ports: only the portal, on loopback by default.
			ports := s.list("ports")
			if name == "portal" {
				if len(ports) != 1 || !strings.HasPrefix(ports[0], "127.0.0.1:") {
					t.Errorf("portal ports %v, want one published on 127.0.0.1", ports)
				}
			} else if len(ports) > 0 {
				t.Errorf("publishes %v: only the portal publishes a port", ports)
			}
			if _, ok := s.m["network_mode"]; ok {
				t.Error("network_mode set: services stay on the stack's network")
			}

			// Volumes: local files exist, named volumes are declared.
			for _, v := range s.list("volumes") {
				src, _, _ := strings.Cut(v, ":")
				if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
					localFile(name+" volume", src)
				} else if _, ok := topVolumes[src]; !ok {
					t.Errorf("volume %q is not declared at the top level", src)
				}
			}

			// Secrets: through *_FILE only.
			mySecrets := s.list("secrets")
			for _, sec := range mySecrets {
				if _, ok := topSecrets[sec]; !ok {
					t.Errorf("secret %s is not declared at the top level", sec)
				}
			}
			env := s.env()
			for k, v := range env {
				if secretEnv[k] {
					// A secret key set directly: allowed only for a URL
					// without credentials.
					u, err := url.Parse(v)
					if err != nil || u.User != nil || !strings.Contains(v, "://") {
						t.Errorf("%s is set directly; give secrets as %s_FILE=/run/secrets/...", k, k)
					}
				}
				base, isFile := strings.CutSuffix(k, "_FILE")
				switch {
				case !strings.HasPrefix(k, "PORTAL_") || knownEnv[k]:
				case isFile && knownEnv[base]:
					if sec, ok := strings.CutPrefix(v, "/run/secrets/"); !ok || !slices.Contains(mySecrets, sec) {
						t.Errorf("%s=%s is not one of the service's secrets %v", k, v, mySecrets)
					}
				default:
					t.Errorf("%s is not a configuration key (config.Reference)", k)
				}
				if strings.HasPrefix(k, "PROSODY_") && !prosodyVars[k] {
					t.Errorf("%s is not one of the variables deploy/prosody/prosody.cfg.lua reads", k)
				}
			}
		})
	}

	// The pieces agree with each other.
	portal := cf.services["portal"].env()
	prosody := cf.services["prosody"].env()
	checks := []struct{ what, got, want string }{
		{"portal mode", portal["PORTAL_XMPP_MODE"], "admin"},
		{"Prosody mode", prosody["PROSODY_PORTAL_MODE"], "admin"},
		{"Prosody admin = portal admin", prosody["PROSODY_PORTAL_ADMIN"], portal["PORTAL_XMPP_ADMIN_JID"]},
		{"Prosody domain = portal domain", prosody["PROSODY_DOMAIN"], portal["PORTAL_XMPP_DOMAIN"]},
		{"portal store", portal["PORTAL_STORE_DRIVER"], "redis"},
		{"portal listens on its published port", portal["PORTAL_LISTEN"], "0.0.0.0:8080"},
		{"ejabberd mode", cf.services["ejabberd-config"].env()["EJABBERD_PORTAL_MODE"], "admin"},
		{"prosody-init env = prosody env", strings.Join(sortedPairs(cf.services["prosody-init"].env()), " "), strings.Join(sortedPairs(prosody), " ")},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %q, want %q", c.what, c.got, c.want)
		}
	}
	mounts := strings.Join(cf.services["prosody"].list("volumes"), " ")
	if !strings.Contains(mounts, "./deploy/prosody/prosody.cfg.lua:/etc/prosody/prosody.cfg.lua:ro") {
		t.Errorf("Prosody does not run the shipped config: %s", mounts)
	}
	redisCmd := strings.Join(cf.services["redis"].list("command"), " ")
	if !strings.Contains(redisCmd, "--save  --appendonly no") {
		t.Errorf("Redis keeps data on disk: %q", redisCmd)
	}
	for _, x := range []string{"prosody", "ejabberd"} {
		nets, _ := cf.services[x].m["networks"].(map[string]any)
		def, _ := nets["default"].(map[string]any)
		if al, _ := def["aliases"].([]any); !slices.Contains(al, any("xmpp")) {
			t.Errorf("%s is not reachable as xmpp: %v", x, nets)
		}
	}
	if !strings.HasPrefix(portal["PORTAL_XMPP_ADDR"], "xmpp:") {
		t.Errorf("portal connects to %q, not the xmpp alias", portal["PORTAL_XMPP_ADDR"])
	}
}

func sortedPairs(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// prosodyDocumentedVars are the PROSODY_* variables listed in the header of
// deploy/prosody/prosody.cfg.lua, which are the ones it reads.
func prosodyDocumentedVars(t *testing.T, root string) map[string]bool {
	t.Helper()
	src := readFile(t, root, "deploy", "prosody", "prosody.cfg.lua")
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^--\s+(PROSODY_[A-Z_]+)(?:, (PROSODY_[A-Z_]+))?\s`).FindAllStringSubmatch(src, -1) {
		out[m[1]] = true
		if m[2] != "" {
			out[m[2]] = true
		}
	}
	for v := range out {
		if !strings.Contains(src, `env("`+v+`"`) {
			t.Errorf("prosody.cfg.lua documents %s but does not read it", v)
		}
	}
	if len(out) < 10 {
		t.Fatalf("only %d PROSODY_ variables found in the header", len(out))
	}
	return out
}

func TestPublishOverride(t *testing.T) {
	root := repoRoot(t)
	cf := loadCompose(t, filepath.Join(root, "deploy", "docker", "publish-xmpp.yml"))
	for name, s := range cf.services {
		if name != "prosody" && name != "ejabberd" {
			t.Errorf("override touches %s", name)
		}
		for _, p := range s.list("ports") {
			if strings.HasSuffix(p, ":5280") && !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("%s publishes HTTP uploads beyond loopback: %s", name, p)
			}
		}
	}
}

// TestDockerComposeConfig validates the file with Debian's docker-compose
// (1.29) for each profile and with the publishing override.
func TestDockerComposeConfig(t *testing.T) {
	bin := needTool(t, "docker-compose")
	root := repoRoot(t)
	runs := []struct {
		name    string
		args    []string
		profile string
	}{
		{"no profile", nil, ""},
		{"prosody", nil, "prosody"},
		{"ejabberd", nil, "ejabberd"},
		{"publish override", []string{"-f", "docker-compose.yml", "-f", "deploy/docker/publish-xmpp.yml"}, "prosody"},
	}
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			cmd := exec.Command(bin, append(r.args, "config", "-q")...)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "XMPP_DOMAIN=example.org", "COMPOSE_PROFILES="+r.profile)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("docker-compose config: %v\n%s", err, out)
			}
		})
	}
	t.Run("XMPP_DOMAIN is required", func(t *testing.T) {
		cmd := exec.Command(bin, "config", "-q")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "XMPP_DOMAIN=")
		if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "XMPP_DOMAIN") {
			t.Errorf("config without XMPP_DOMAIN: %v\n%s", err, out)
		}
	})
}
