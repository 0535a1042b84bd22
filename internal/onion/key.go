package onion

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cretz/bine/torutil"
	bed "github.com/cretz/bine/torutil/ed25519"
)

// File names inside a key directory; the same as in tor's HiddenServiceDir,
// so the directory can be moved between the portal and a torrc
// (HiddenServiceDir) or tools such as Onionbalance.
const (
	SecretKeyFile = "hs_ed25519_secret_key"
	PublicKeyFile = "hs_ed25519_public_key"
	HostnameFile  = "hostname"
)

var (
	secretHeader = keyHeader("== ed25519v1-secret: type0 ==")
	publicHeader = keyHeader("== ed25519v1-public: type0 ==")
)

// keyHeader pads a tor key file tag with NUL bytes to 32 bytes.
func keyHeader(tag string) []byte {
	h := make([]byte, 32)
	copy(h, tag)
	return h
}

// ErrKeyPermissions is returned (wrapped) when a key file can be read by
// others than its owner.
var ErrKeyPermissions = errors.New("onion key file is readable by group or others")

// Key is an onion service's v3 identity: an ed25519 key in tor's expanded
// form. The key is the address: whoever holds it can publish the service.
type Key struct {
	kp bed.KeyPair
}

// ServiceID returns the 56-character service id (the address without ".onion").
func (k Key) ServiceID() string { return torutil.OnionServiceIDFromV3PublicKey(k.kp.PublicKey()) }

// Address returns "<service id>.onion".
func (k Key) Address() string { return k.ServiceID() + ".onion" }

// KeyPair returns the key for bine's tor.ListenConf.Key.
func (k Key) KeyPair() bed.KeyPair { return k.kp }

// GenerateKey returns a new random key.
func GenerateKey() (Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Key{}, err
	}
	return Key{kp: bed.FromCryptoPrivateKey(priv)}, nil
}

// LoadKey reads the key kept in dir in tor's HiddenServiceDir format. It
// refuses a secret key file that group or others may read.
func LoadKey(dir string) (Key, error) {
	p := filepath.Join(dir, SecretKeyFile)
	f, err := os.Open(p)
	if err != nil {
		return Key{}, fmt.Errorf("onion key: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Key{}, fmt.Errorf("onion key: %w", err)
	}
	if !st.Mode().IsRegular() {
		return Key{}, fmt.Errorf("onion key: %s is not a regular file", p)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return Key{}, fmt.Errorf("%w: %s has mode %04o; it must be readable by its owner only (chmod 600 %s)",
			ErrKeyPermissions, p, perm, p)
	}
	b, err := io.ReadAll(io.LimitReader(f, 97)) // one byte more than expected, to notice a longer file
	if err != nil {
		return Key{}, fmt.Errorf("onion key: %s: %w", p, err)
	}
	if len(b) != 96 || !bytes.Equal(b[:32], secretHeader) {
		return Key{}, fmt.Errorf("onion key: %s is not a tor v3 secret key (want 96 bytes starting with %q)", p, "== ed25519v1-secret: type0 ==")
	}
	priv := make(bed.PrivateKey, 64)
	copy(priv, b[32:])
	return Key{kp: priv.KeyPair()}, nil
}

// LoadOrCreateKey loads the key kept in dir or, when there is none, creates
// dir (0700) and a new key in it (files 0600, each written atomically). The
// derived files (public key, hostname) are rewritten when they are missing or
// do not match the secret key. created reports whether a new key was made.
func LoadOrCreateKey(dir string) (k Key, created bool, err error) {
	if dir == "" {
		return Key{}, false, errors.New("onion key: no directory given")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Key{}, false, fmt.Errorf("onion key: %w", err)
	}
	k, err = LoadKey(dir)
	if errors.Is(err, fs.ErrNotExist) {
		nk, gerr := GenerateKey()
		if gerr != nil {
			return Key{}, false, fmt.Errorf("onion key: %w", gerr)
		}
		// Link fails if another process created the key meanwhile: then
		// that key wins and is loaded below.
		werr := writeAtomic(dir, SecretKeyFile, append(append([]byte{}, secretHeader...), nk.kp.PrivateKey()...), true)
		if werr != nil && !errors.Is(werr, fs.ErrExist) {
			return Key{}, false, fmt.Errorf("onion key: %w", werr)
		}
		created = werr == nil
		k, err = LoadKey(dir)
	}
	if err != nil {
		return Key{}, false, err
	}
	if err := k.writeDerived(dir); err != nil {
		return Key{}, false, fmt.Errorf("onion key: %w", err)
	}
	return k, created, nil
}

// writeDerived writes hs_ed25519_public_key and hostname unless they already
// hold the right content.
func (k Key) writeDerived(dir string) error {
	files := []struct {
		name string
		data []byte
	}{
		{PublicKeyFile, append(append([]byte{}, publicHeader...), k.kp.PublicKey()...)},
		{HostnameFile, []byte(k.Address() + "\n")},
	}
	for _, f := range files {
		if old, err := os.ReadFile(filepath.Join(dir, f.name)); err == nil && bytes.Equal(old, f.data) {
			continue
		}
		if err := writeAtomic(dir, f.name, f.data, false); err != nil {
			return err
		}
	}
	return nil
}

// writeAtomic writes data to dir/name through a temporary file (mode 0600,
// synced) that is then renamed into place, or, with exclusive, linked into
// place so that an existing file is never replaced (fs.ErrExist).
func writeAtomic(dir, name string, data []byte, exclusive bool) error {
	tmp, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	final := filepath.Join(dir, name)
	if exclusive {
		err = os.Link(tmpName, final)
	} else {
		err = os.Rename(tmpName, final)
	}
	if err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// ParseAddress checks a v3 onion address ("<56 base32 chars>.onion", the
// suffix optional) including its checksum and returns it with the suffix.
func ParseAddress(s string) (string, error) {
	id := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".onion")
	if len(id) != 56 {
		return "", fmt.Errorf("not a v3 onion address: %q", s)
	}
	if _, err := torutil.PublicKeyFromV3OnionServiceID(id); err != nil {
		return "", fmt.Errorf("not a v3 onion address: %q: %v", s, err)
	}
	return id + ".onion", nil
}
