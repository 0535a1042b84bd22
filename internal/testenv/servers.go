package testenv

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"

	"mellium.im/xmpp/form"
	"mellium.im/xmpp/jid"

	"github.com/xmpp-portal/portal/internal/xmpp"
)

// Servers are the real XMPP servers every server suite runs against, in
// the order their subtests are named: Prosody and ejabberd.
var Servers = []struct {
	Name  string // "prosody" or "ejabberd", as Server.Name
	Start func(testing.TB, Options) *Server
}{
	{"prosody", StartProsody},
	{"ejabberd", StartEjabberd},
}

// EachServer runs f once per real XMPP server (Servers), each in a parallel
// subtest named by the server, on a server of its own started with opt.
// Under -short every subtest is skipped ("needs <server>; -short").
func EachServer(t *testing.T, opt Options, f func(t *testing.T, s *Server)) {
	t.Helper()
	for _, srv := range Servers {
		t.Run(srv.Name, func(t *testing.T) {
			t.Parallel()
			f(t, srv.Start(t, opt))
		})
	}
}

// AddUserNode is the XEP-0133 command that creates an account (§4.1), the
// same form on Prosody and ejabberd: accountjid, password, password-verify.
const AddUserNode = "http://jabber.org/protocol/admin#add-user"

// Admin returns the session of the server's admin account (AdminJID) that
// the Server keeps: opened on first use with the configuration of XMPP,
// reconnected after a Kill or Restart like any *xmpp.Admin, and closed when
// the test ends, before the server stops. Tests hand it to the code that
// takes an admin session (the portal's sign-up, account manager); a test of
// the admin session itself makes its own with xmpp.NewAdmin.
func (s *Server) Admin() *xmpp.Admin {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.admin == nil {
		s.admin = xmpp.NewAdmin(s.XMPP(), s.AdminJID, s.AdminPassword, nil)
	}
	return s.admin
}

// closeAdmin ends the session Admin made, if any.
func (s *Server) closeAdmin() {
	s.mu.Lock()
	a := s.admin
	s.admin = nil
	s.mu.Unlock()
	if a != nil {
		a.Close()
	}
}

// CreateUser creates local@Domain with password by XEP-0133 add-user on the
// Admin session: the test's own way to make an account, apart from the
// portal's sign-up code under test (package signup; testenv cannot import
// it, as signup's own tests import testenv). The error is the session's
// (*xmpp.Error, with its Kind), wrapped with the user and the server.
func (s *Server) CreateUser(ctx context.Context, local, password string) error {
	user, err := jid.New(local, s.Domain, "")
	if err != nil {
		return fmt.Errorf("testenv: create %s on %s: %w", local, s.Name, err)
	}
	_, err = s.Admin().Run(ctx, AddUserNode, FillAddUser(user, password))
	if err != nil {
		return fmt.Errorf("testenv: create %s on %s: %w", local, s.Name, err)
	}
	return nil
}

// FillAddUser returns the fill function of an add-user form (for
// Conn.Command, Admin.Run or Admin.RunWith) that creates user with
// password: it sets accountjid, password and password-verify, and fails if
// the form lacks one of them.
func FillAddUser(user jid.JID, password string) func(*form.Data) error {
	return func(d *form.Data) error {
		for _, f := range []struct {
			name  string
			value any
		}{{"accountjid", user}, {"password", password}, {"password-verify", password}} {
			if ok, err := d.Set(f.name, f.value); err != nil || !ok {
				return fmt.Errorf("add-user form: field %s: set %v, %v", f.name, ok, err)
			}
		}
		return nil
	}
}

// ClosedAddr returns a loopback address (127.0.0.1:port) where nothing
// listens: a port the kernel handed out and that was closed again, so a
// connection to it is refused at once.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TCPServer is a server a test plays on a loopback port: it returns the
// address, and runs serve on each connection it accepts, in a goroutine of
// its own, closing the connection when serve returns. A nil serve is a black
// hole: every connection is held open, unanswered. When the test ends the
// listener and every connection still open are closed.
func TCPServer(t testing.TB, serve func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	done := false
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		done = true
		for c := range open {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if done {
				mu.Unlock()
				c.Close()
				return
			}
			open[c] = true
			mu.Unlock()
			if serve == nil {
				continue
			}
			go func() {
				defer func() {
					mu.Lock()
					delete(open, c)
					mu.Unlock()
					c.Close()
				}()
				serve(c)
			}()
		}
	}()
	return l.Addr().String()
}
