package bench

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ProsodyWeb is a Prosody serving its own web registration page
// (mod_register_web from prosody-modules), the baseline of the page
// benchmark. It runs the shipped deploy/prosody/prosody.cfg.lua with one
// line appended that also loads register_web, so it is the same server
// configuration the portal fronts, plus the page.
type ProsodyWeb struct {
	URL  string // http://127.0.0.1:port/register_web
	Host string // the Host header to send (the VirtualHost)
	Dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// registerWebLine is appended to the shipped configuration. The shipped file
// builds its module list in the local table "enabled" and assigns it to
// modules_enabled; Prosody reads the table after the whole file ran. A
// server that offers Prosody's own form does not make every registration
// need an invite (mod_invites_register, loaded with the portal's invites,
// refuses the form's registrations while registration_invite_only is set):
// the option is set in the VirtualHost's section (the file's last section
// is the upload component's), named by the file's local "domain".
const registerWebLine = "\n-- Appended by the portal's benchmark: Prosody's own web registration page as a baseline.\n" +
	"table.insert(enabled, \"register_web\")\nVirtualHost (domain)\n\tregistration_invite_only = false\n"

// RegisterWebInstalled reports whether prosody-modules' mod_register_web is
// where Prosody (Debian's package) loads modules from.
func RegisterWebInstalled() error {
	if _, err := os.Stat("/usr/lib/prosody/modules/mod_register_web/mod_register_web.lua"); err != nil {
		return fmt.Errorf("mod_register_web missing (apt-get install prosody-modules): %w", err)
	}
	return nil
}

// RegisterWebTail returns the Lua to append to the shipped configuration
// cfg so that Prosody also loads register_web (Prosody's own web
// registration page, served on its HTTP port at /register_web), or an
// error if the file no longer builds its module list the way the line
// relies on.
func RegisterWebTail(cfg []byte) (string, error) {
	if !bytes.Contains(cfg, []byte("local enabled = {")) || !bytes.Contains(cfg, []byte("modules_enabled = enabled")) ||
		!bytes.Contains(cfg, []byte("VirtualHost (domain)")) {
		return "", errors.New("the configuration no longer builds modules_enabled from a local table \"enabled\" or names its VirtualHost by the local \"domain\": update bench.registerWebLine")
	}
	return registerWebLine, nil
}

// StartProsodyWeb starts Prosody from deployCfg (the shipped
// prosody.cfg.lua) plus register_web in dir (created; removed by Stop), on
// free loopback ports, as the prosody user when running as root.
func StartProsodyWeb(deployCfg, dir, domain string) (*ProsodyWeb, error) {
	src, err := os.ReadFile(deployCfg)
	if err != nil {
		return nil, err
	}
	tail, err := RegisterWebTail(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", deployCfg, err)
	}
	bin, err := exec.LookPath("prosody")
	if err != nil {
		return nil, fmt.Errorf("prosody is not installed (apt-get install prosody prosody-modules): %w", err)
	}
	if err := RegisterWebInstalled(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o750); err != nil {
		return nil, err
	}
	cert, key, err := selfSigned(domain)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{"prosody.cfg.lua": append(src, tail...), "cert.pem": cert, "key.pem": key}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o640); err != nil {
			return nil, err
		}
	}
	c2s, err := FreePort()
	if err != nil {
		return nil, err
	}
	web, err := FreePort()
	if err != nil {
		return nil, err
	}
	port := func(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }
	env := []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + dir, "LANG=C.UTF-8",
		"PROSODY_DOMAIN=" + domain, "PROSODY_PORTAL_MODE=ibr", "PROSODY_PORTAL_IP=127.0.0.1",
		"PROSODY_INTERFACE=127.0.0.1", "PROSODY_C2S_PORT=" + port(c2s), "PROSODY_S2S=0",
		"PROSODY_HTTP_INTERFACE=127.0.0.1", "PROSODY_HTTP_PORT=" + port(web),
		"PROSODY_DATA_DIR=" + filepath.Join(dir, "data"), "PROSODY_PIDFILE=" + filepath.Join(dir, "prosody.pid"),
		"PROSODY_LOG_FILE=" + filepath.Join(dir, "prosody.log"), "PROSODY_LOG_LEVEL=warn",
		"PROSODY_CERT=" + filepath.Join(dir, "cert.pem"), "PROSODY_KEY=" + filepath.Join(dir, "key.pem"),
	}
	args := []string{"-F", "--config", filepath.Join(dir, "prosody.cfg.lua")}
	cmd := exec.Command(bin, args...)
	if os.Geteuid() == 0 {
		u, err := user.Lookup("prosody")
		if err != nil {
			return nil, fmt.Errorf("system user prosody: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := chownAll(dir, uid, gid); err != nil {
			return nil, err
		}
		// Prosody refuses to run as root; setpriv execs it, so the pid stays.
		cmd = exec.Command("setpriv", append([]string{"--reuid=" + u.Uid, "--regid=" + u.Gid, "--init-groups", "--", bin}, args...)...)
	}
	cmd.Env = env
	out, err := os.Create(filepath.Join(dir, "stdout.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, err
	}
	p := &ProsodyWeb{URL: "http://" + web + "/register_web", Host: domain, Dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); out.Close(); close(p.done) }()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, p.URL, nil)
		req.Host = domain
		if resp, err := client.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case <-p.done:
			log, _ := os.ReadFile(filepath.Join(dir, "prosody.log"))
			so, _ := os.ReadFile(filepath.Join(dir, "stdout.log"))
			return nil, fmt.Errorf("prosody (register_web) exited during start-up:\n%s\n%s", log, so)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, errors.New("prosody's register_web page did not answer 200 within 20 s")
		}
	}
}

// PID returns Prosody's process id.
func (p *ProsodyWeb) PID() int { return p.cmd.Process.Pid }

// Stop ends Prosody (SIGTERM, SIGKILL after 10 s) and removes its directory.
func (p *ProsodyWeb) Stop() {
	_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	_ = os.RemoveAll(p.Dir)
}

func chownAll(dir string, uid, gid int) error {
	return filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
}

// selfSigned returns a throwaway certificate and key for domain (Prosody
// wants one for c2s; the page itself is plain HTTP on loopback).
func selfSigned(domain string) (certPEM, keyPEM []byte, err error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: domain},
		DNSNames:     []string{domain},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}
