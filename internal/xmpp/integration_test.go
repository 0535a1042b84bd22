package xmpp_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/form"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

// TestServers runs the same checks against real Prosody and ejabberd.
func TestServers(t *testing.T) {
	testenv.EachServer(t, testenv.Options{Mode: testenv.ModeIBR}, testServer)
}

// hangLimit bounds what ends by itself unless the code under test hangs: far
// above what a busy machine adds, so that reaching it means a hang.
const hangLimit = 2 * time.Minute

func testServer(t *testing.T, s *testenv.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	defer cancel()
	// These checks are about answers, not timeouts (TestSilentServerTimesOut
	// is): the timeout is a hang limit, above the seconds a busy machine can
	// add to an ejabberd login.
	cfg := s.XMPP()
	cfg.Timeout = hangLimit / 2

	admin, err := xmpp.Login(ctx, cfg, s.AdminJID.Localpart(), s.AdminPassword, nil)
	if err != nil {
		t.Fatalf("admin login: %v", err)
	}
	defer admin.Close()
	if !admin.Alive() {
		t.Fatal("fresh session not alive")
	}
	if st := admin.TLS(); st.Version < tls.VersionTLS12 {
		t.Errorf("TLS version %x", st.Version)
	}

	t.Run("ListCommands", func(t *testing.T) {
		items, err := admin.ListCommands(ctx, jid.MustParse(s.Domain))
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, it := range items {
			found = found || it.Node == testenv.AddUserNode
		}
		if !found {
			t.Errorf("add-user not listed in %v", items)
		}
	})

	user := "conn" + strings.ToLower(time.Now().Format("150405.000000"))
	user = strings.ReplaceAll(user, ".", "")
	fill := func(pw string) func(d *form.Data) error {
		return testenv.FillAddUser(jid.MustParse(user+"@"+s.Domain), pw)
	}
	t.Run("Command", func(t *testing.T) {
		res, err := admin.Command(ctx, jid.MustParse(s.Domain), testenv.AddUserNode, fill("pw-one-Long-enough-1"))
		if err != nil {
			t.Fatalf("add-user: %v (%+v)", err, res)
		}
		if res.Status != "completed" {
			t.Errorf("status %q", res.Status)
		}
		// Again: Prosody answers with an error note, ejabberd with an IQ
		// error; either way the session must keep working afterwards.
		_, err = admin.Command(ctx, jid.MustParse(s.Domain), testenv.AddUserNode, fill("pw-two-Long-enough-2"))
		// Either way it is one Error of kind Conflict.
		var se *xmpp.Error
		switch {
		case !errors.As(err, &se):
			t.Fatalf("duplicate add-user: %v", err)
		case se.Kind != xmpp.Conflict:
			t.Errorf("duplicate add-user: kind %s: %+v", se.Kind, se)
		case se.Condition == "" && !strings.Contains(se.Text, "already exists"):
			t.Errorf("note %q", se.Text)
		case se.Condition != "" && se.Condition != "conflict":
			t.Errorf("stanza error %+v", se)
		}
		// Unknown node: an IQ error on both servers.
		_, err = admin.Command(ctx, jid.MustParse(s.Domain), "urn:example:nope", nil)
		if !errors.As(err, &se) {
			t.Errorf("unknown node: %v", err)
		}
		// fill failing cancels the command and returns fill's error.
		boom := errors.New("boom")
		if _, err := admin.Command(ctx, jid.MustParse(s.Domain), testenv.AddUserNode, func(*form.Data) error { return boom }); err != boom {
			t.Errorf("fill error: %v", err)
		}
		if _, err := admin.ListCommands(ctx, jid.MustParse(s.Domain)); err != nil {
			t.Errorf("session broken after command errors: %v", err)
		}
	})

	t.Run("Login", func(t *testing.T) {
		u, err := xmpp.Login(ctx, cfg, user, "pw-one-Long-enough-1", nil)
		if err != nil {
			t.Fatalf("login: %v", err)
		}
		if got := u.LocalAddr().Bare().String(); got != user+"@"+s.Domain {
			t.Errorf("bound to %s", got)
		}
		if err := u.Close(); err != nil {
			t.Error(err)
		}
		select {
		case <-u.Done():
		case <-time.After(hangLimit):
			t.Errorf("Serve still running %v after Close", hangLimit)
		}
		if u.Alive() {
			t.Error("closed session alive")
		}
		if _, err := u.SendIQ(ctx, stanza.IQ{Type: stanza.GetIQ}, nil); !errors.Is(err, xmpp.Unavailable) {
			t.Errorf("SendIQ on closed session: %v", err)
		}
	})

	t.Run("WrongPassword", func(t *testing.T) {
		for _, c := range []struct{ user, pw string }{
			{user, "wrong"},
			{"nosuchuser", "whatever"},
			{"bad user", "x"},
		} {
			_, err := xmpp.Login(ctx, cfg, c.user, c.pw, nil)
			if !errors.Is(err, xmpp.Auth) || errors.Is(err, xmpp.Unavailable) {
				t.Errorf("Login(%q): %v, want ErrAuth", c.user, err)
			}
		}
	})

	t.Run("UntrustedCertificate", func(t *testing.T) {
		bad := cfg
		bad.TLS = &tls.Config{RootCAs: x509.NewCertPool(), ServerName: s.Domain}
		_, err := xmpp.Login(ctx, bad, user, "pw-one-Long-enough-1", nil)
		var ve *tls.CertificateVerificationError
		if !errors.Is(err, xmpp.Unavailable) || !errors.As(err, &ve) {
			t.Errorf("untrusted cert: %v", err)
		}
		wrongName := cfg
		wrongName.TLS = &tls.Config{RootCAs: s.CAPool, ServerName: "example.net"}
		if _, err := xmpp.Unauth(ctx, wrongName); !errors.Is(err, xmpp.Unavailable) {
			t.Errorf("wrong server name: %v", err)
		}
	})

	t.Run("Unauth", func(t *testing.T) {
		u, err := xmpp.Unauth(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer u.Close()
		if !u.Secure() || u.Authenticated() {
			t.Errorf("secure %v, authenticated %v", u.Secure(), u.Authenticated())
		}
		q := xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: "jabber:iq:register", Local: "query"}})
		r, err := u.SendIQ(ctx, stanza.IQ{Type: stanza.GetIQ}, q)
		if err != nil {
			t.Fatal(err)
		}
		if name, ok := r.Child(); !ok || name.Local != "query" {
			t.Errorf("register form: %v", r.Payload)
		}
	})
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	cfg := xmpp.Config{Domain: "localhost", Addr: testenv.ClosedAddr(t), Timeout: time.Second}
	if _, err := xmpp.Login(context.Background(), cfg, "a", "b", nil); !errors.Is(err, xmpp.Unavailable) {
		t.Errorf("closed port: %v", err)
	}
	if _, err := xmpp.Dial(context.Background(), cfg); !errors.Is(err, xmpp.Unavailable) {
		t.Errorf("Dial closed port: %v", err)
	}
}

// A server that accepts and never says anything: Unauth ends by its own
// Timeout. The server holds every connection open until the test ends, so
// nothing but a timeout can end the call, and no fixed bound on elapsed time
// is needed: the call fails with a deadline error, no sooner than Timeout,
// while the caller's context (a hang limit) still runs. That it is the
// configured Timeout and not the default is shown against a reference
// measured at the same moment: a call with DefaultTimeout, connected first,
// must still be waiting when ours returns.
func TestSilentServerTimesOut(t *testing.T) {
	t.Parallel()
	testOver := make(chan struct{})
	accepted := make(chan struct{}, 2)
	t.Cleanup(func() { close(testOver) }) // releases the held connections
	addr := testenv.TCPServer(t, func(c net.Conn) {
		accepted <- struct{}{}
		<-testOver
	})

	ref, stopRef := context.WithCancel(context.Background())
	defer stopRef()
	refDone := make(chan error, 1)
	go func() {
		_, err := xmpp.Unauth(ref, xmpp.Config{Domain: "localhost", Addr: addr, Timeout: xmpp.DefaultTimeout})
		refDone <- err
	}()
	<-accepted // the reference's deadline is set: it dials after setting it

	const timeout = 300 * time.Millisecond
	cfg := xmpp.Config{Domain: "localhost", Addr: addr, Timeout: timeout}
	caller, cancel := context.WithTimeout(context.Background(), hangLimit)
	defer cancel()
	start := time.Now()
	_, err := xmpp.Unauth(caller, cfg)
	d := time.Since(start)
	if !errors.Is(err, xmpp.Unavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("silent server: %v, want ErrUnavailable from the deadline", err)
	}
	if caller.Err() != nil {
		t.Errorf("Unauth returned only at the caller's hang limit of %v, Timeout %v", hangLimit, timeout)
	}
	if d < timeout {
		t.Errorf("Unauth gave up after %v, before its Timeout of %v", d, timeout)
	}
	select {
	case err := <-refDone:
		t.Errorf("a call with the default timeout, connected first, ended before the one with Timeout %v (%v): %v", timeout, d, err)
	default:
		stopRef()
		if err := <-refDone; !errors.Is(err, context.Canceled) {
			t.Errorf("reference call: %v, want it canceled", err)
		}
	}
}

func TestHugeTokenIsRefused(t *testing.T) {
	t.Parallel()
	addr := testenv.TCPServer(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		_, _ = c.Read(buf)
		_, _ = c.Write([]byte(`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='localhost' id='1' version='1.0'><stream:features><x a='`))
		chunk := []byte(strings.Repeat("A", 64<<10))
		for i := 0; i < 64; i++ { // 4 MiB without a '<'
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	})
	// The refusal comes from the size limit, never from the clock: the
	// timeout is only a hang limit.
	cfg := xmpp.Config{Domain: "localhost", Addr: addr, Timeout: hangLimit, MaxTokenBytes: 64 << 10}
	_, err := xmpp.Unauth(context.Background(), cfg)
	if !errors.Is(err, xmpp.Protocol) {
		t.Errorf("huge token: %v, want ErrProtocol", err)
	}
}

func TestGarbageServer(t *testing.T) {
	t.Parallel()
	for name, reply := range map[string]string{
		"not xml":        "HTTP/1.1 400 Bad Request\r\n\r\n",
		"no starttls":    `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='localhost' id='1' version='1.0'><stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>`,
		"starttls fails": `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='localhost' id='1' version='1.0'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features><failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`,
		"wrong domain":   `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='evil.example' id='1' version='1.0'><stream:features/>`,
		"stream error":   `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='localhost' id='1' version='1.0'><stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			addr := testenv.TCPServer(t, func(c net.Conn) {
				buf := make([]byte, 4096)
				_, _ = c.Read(buf)
				_, _ = c.Write([]byte(reply))
				time.Sleep(500 * time.Millisecond)
			})
			cfg := xmpp.Config{Domain: "localhost", Addr: addr, Timeout: 2 * time.Second}
			_, err := xmpp.Login(context.Background(), cfg, "a", "b", nil)
			if err == nil || errors.Is(err, xmpp.Auth) {
				t.Errorf("Login: %v", err)
			}
			if !errors.Is(err, xmpp.Unavailable) && !errors.Is(err, xmpp.Protocol) {
				t.Errorf("Login: %v is neither ErrUnavailable nor ErrProtocol", err)
			}
		})
	}
}
