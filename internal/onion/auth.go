package onion

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cretz/bine/control"
)

// authenticate logs in on a tor control connection: no authentication if
// tor allows it, the password if one is configured and tor accepts
// passwords, else the cookie (SAFECOOKIE, or plain COOKIE) from cookieFile or
// from the file tor names in PROTOCOLINFO.
func authenticate(c *control.Conn, password, cookieFile string) error {
	pi, err := c.ProtocolInfo()
	if err != nil {
		return fmt.Errorf("PROTOCOLINFO: %w", err)
	}
	var authErr error
	switch {
	case pi.HasAuthMethod("NULL"):
		_, authErr = c.SendRequest("AUTHENTICATE")
	case password != "" && pi.HasAuthMethod("HASHEDPASSWORD"):
		_, authErr = c.SendRequest("AUTHENTICATE %s", hex.EncodeToString([]byte(password)))
		if authErr != nil {
			authErr = fmt.Errorf("password refused (onion.control_password): %w", authErr)
		}
	case pi.HasAuthMethod("SAFECOOKIE") || pi.HasAuthMethod("COOKIE"):
		if cookieFile == "" {
			cookieFile = pi.CookieFile
		}
		if cookieFile == "" {
			return errors.New("tor names no cookie file; set onion.cookie_file")
		}
		cookie, err := os.ReadFile(cookieFile)
		if err != nil {
			return fmt.Errorf("reading tor's cookie file (the portal's user must be able to read it, e.g. be in group debian-tor): %w", err)
		}
		if len(cookie) != 32 {
			return fmt.Errorf("cookie file %s has %d bytes, want 32", cookieFile, len(cookie))
		}
		if pi.HasAuthMethod("SAFECOOKIE") {
			authErr = safeCookie(c, cookie)
		} else {
			_, authErr = c.SendRequest("AUTHENTICATE %s", hex.EncodeToString(cookie))
		}
	case pi.HasAuthMethod("HASHEDPASSWORD"):
		return errors.New("tor wants a password: set onion.control_password")
	default:
		return fmt.Errorf("no supported authentication method among %s", strings.Join(pi.AuthMethods, ","))
	}
	if authErr != nil {
		return authErr
	}
	c.Authenticated = true
	return nil
}

// safeCookie runs tor's SAFECOOKIE exchange (control-spec 3.24): both sides
// prove they know the cookie without sending it.
func safeCookie(c *control.Conn, cookie []byte) error {
	clientNonce := make([]byte, 32)
	if _, err := rand.Read(clientNonce); err != nil {
		return err
	}
	resp, err := c.SendRequest("AUTHCHALLENGE SAFECOOKIE %s", hex.EncodeToString(clientNonce))
	if err != nil {
		return fmt.Errorf("AUTHCHALLENGE: %w", err)
	}
	var serverHash, serverNonce []byte
	for _, f := range strings.Fields(resp.Reply) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "SERVERHASH":
			serverHash, _ = hex.DecodeString(v)
		case "SERVERNONCE":
			serverNonce, _ = hex.DecodeString(v)
		}
	}
	if len(serverHash) != 32 || len(serverNonce) != 32 {
		return errors.New("AUTHCHALLENGE: malformed answer")
	}
	mac := func(key string) []byte {
		m := hmac.New(sha256.New, []byte(key))
		m.Write(cookie)
		m.Write(clientNonce)
		m.Write(serverNonce)
		return m.Sum(nil)
	}
	if !hmac.Equal(serverHash, mac("Tor safe cookie authentication server-to-controller hash")) {
		return errors.New("AUTHCHALLENGE: tor does not know the cookie (wrong cookie file?)")
	}
	if _, err := c.SendRequest("AUTHENTICATE %s", hex.EncodeToString(mac("Tor safe cookie authentication controller-to-server hash"))); err != nil {
		return fmt.Errorf("AUTHENTICATE: %w", err)
	}
	return nil
}
