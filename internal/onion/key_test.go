package onion

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyCreateReload(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hs")
	k1, created, err := LoadOrCreateKey(dir)
	if err != nil || !created {
		t.Fatalf("first LoadOrCreateKey: created=%v err=%v", created, err)
	}
	k2, created, err := LoadOrCreateKey(dir)
	if err != nil || created {
		t.Fatalf("second LoadOrCreateKey: created=%v err=%v", created, err)
	}
	if k1.Address() != k2.Address() {
		t.Fatalf("address changed: %s -> %s", k1.Address(), k2.Address())
	}
	if _, err := ParseAddress(k1.Address()); err != nil {
		t.Errorf("address does not parse: %v", err)
	}
	if len(k1.ServiceID()) != 56 || !strings.HasSuffix(k1.Address(), ".onion") {
		t.Errorf("bad address %q", k1.Address())
	}
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("key dir mode %v (%v), want 0700", st.Mode().Perm(), err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		info, _ := e.Info()
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", e.Name(), info.Mode().Perm())
		}
	}
	if strings.Join(names, ",") != "hostname,hs_ed25519_public_key,hs_ed25519_secret_key" {
		t.Errorf("files in key dir: %v (temporary files left?)", names)
	}
	host, _ := os.ReadFile(filepath.Join(dir, HostnameFile))
	if string(host) != k1.Address()+"\n" {
		t.Errorf("hostname file %q", host)
	}
	sec, _ := os.ReadFile(filepath.Join(dir, SecretKeyFile))
	pub, _ := os.ReadFile(filepath.Join(dir, PublicKeyFile))
	if len(sec) != 96 || !bytes.HasPrefix(sec, []byte("== ed25519v1-secret: type0 ==\x00\x00\x00")) {
		t.Errorf("secret key file: %d bytes, header %q", len(sec), sec[:min(32, len(sec))])
	}
	if len(pub) != 64 || !bytes.HasPrefix(pub, []byte("== ed25519v1-public: type0 ==\x00\x00\x00")) {
		t.Errorf("public key file: %d bytes", len(pub))
	}
}

func TestKeyDerivedFilesRepaired(t *testing.T) {
	dir := t.TempDir()
	k, _, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, PublicKeyFile))
	os.WriteFile(filepath.Join(dir, HostnameFile), []byte("wrong.onion\n"), 0o600)
	if _, _, err := LoadOrCreateKey(dir); err != nil {
		t.Fatal(err)
	}
	host, _ := os.ReadFile(filepath.Join(dir, HostnameFile))
	if string(host) != k.Address()+"\n" {
		t.Errorf("hostname not repaired: %q", host)
	}
	if _, err := os.Stat(filepath.Join(dir, PublicKeyFile)); err != nil {
		t.Errorf("public key not rewritten: %v", err)
	}
}

func TestKeyRefused(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string)
		want    string
		perm    bool
	}{
		{"world readable", func(t *testing.T, dir string) { chmod(t, dir, 0o644) }, "mode 0644", true},
		{"group readable", func(t *testing.T, dir string) { chmod(t, dir, 0o640) }, "chmod 600", true},
		{"too short", func(t *testing.T, dir string) {
			write(t, dir, []byte("== ed25519v1-secret: type0 ==\x00\x00\x00short"))
		}, "not a tor v3 secret key", false},
		{"wrong header", func(t *testing.T, dir string) { write(t, dir, bytes.Repeat([]byte{1}, 96)) }, "not a tor v3 secret key", false},
		{"too long", func(t *testing.T, dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, SecretKeyFile))
			write(t, dir, append(b, 0))
		}, "not a tor v3 secret key", false},
		{"directory", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, SecretKeyFile))
			os.Mkdir(filepath.Join(dir, SecretKeyFile), 0o700)
		}, "not a regular file", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			state := t.TempDir()
			dir := Config{StateDir: state}.KeyDir()
			if _, _, err := LoadOrCreateKey(dir); err != nil {
				t.Fatal(err)
			}
			tc.prepare(t, dir)
			for _, load := range []func() error{
				func() error { _, err := LoadKey(dir); return err },
				func() error { _, _, err := LoadOrCreateKey(dir); return err },
				func() error { _, err := New(Config{StateDir: state}); return err },
			} {
				err := load()
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("error %v, want one containing %q", err, tc.want)
				}
				if errors.Is(err, ErrKeyPermissions) != tc.perm {
					t.Errorf("errors.Is(err, ErrKeyPermissions) = %v for %v", !tc.perm, err)
				}
			}
		})
	}
}

func chmod(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(filepath.Join(dir, SecretKeyFile), mode); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, dir string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, SecretKeyFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestParseAddress(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	good := k.Address()
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{good, good, true},
		{strings.TrimSuffix(good, ".onion"), good, true},
		{strings.ToUpper(good), good, true},
		{"abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx.onion", "", false}, // bad checksum
		{"short.onion", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		got, err := ParseAddress(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseAddress(%q) = %q, %v", tc.in, got, err)
		}
	}
}
