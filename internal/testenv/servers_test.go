package testenv

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/xmpp"
)

// hangLimit bounds what ends by itself unless something hangs: the context of
// a whole test here, which starts (and restarts) a server. Restarting
// ejabberd took over 30 s with both cores busy.
const hangLimit = 5 * time.Minute

// TestServers starts each server (ibr mode: the admin account exists in both
// modes) and checks what the suites rely on: the admin logs in, CreateUser
// makes an account that logs in and refuses the name a second time
// (Conflict), Kill leaves no process, and Restart brings the server back on
// the same port and data.
func TestServers(t *testing.T) {
	EachServer(t, Options{Mode: ModeIBR}, func(t *testing.T, s *Server) {
		ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
		defer cancel()
		login := func(local, password string) error {
			sess, err := xmpp.Login(ctx, s.XMPP(), local, password, nil)
			if err == nil {
				sess.Close()
			}
			return err
		}
		if err := login(s.AdminJID.Localpart(), s.AdminPassword); err != nil {
			t.Fatalf("admin login: %v", err)
		}
		const pw = "created Secret phrase 9"
		if err := s.CreateUser(ctx, "created", pw); err != nil {
			t.Fatal(err)
		}
		if err := login("created", pw); err != nil {
			t.Fatalf("the created account does not log in: %v", err)
		}
		if err := s.CreateUser(ctx, "created", pw); xmpp.KindOf(err) != xmpp.Conflict {
			t.Errorf("second CreateUser of the name: %v, want Conflict", err)
		}
		if s.Admin() != s.Admin() {
			t.Error("Admin made a second session")
		}

		// SIGKILL, then start again on the same data.
		pid := s.PID()
		s.Kill()
		if s.PID() != 0 {
			t.Error("PID after Kill")
		}
		if err := syscallKill0(pid); err == nil {
			t.Errorf("server process %d still exists after Kill", pid)
		}
		s.Restart()
		if s.Name == "ejabberd" {
			// Recent writes may be lost (ejabberd's Mnesia disc_only
			// tables are dets files, repaired at start): the stream only.
			sess, err := xmpp.Unauth(ctx, s.XMPP())
			if err != nil {
				t.Fatalf("stream after kill+restart: %v", err)
			}
			sess.Close()
			return
		}
		if err := login(s.AdminJID.Localpart(), s.AdminPassword); err != nil {
			t.Fatalf("admin login after kill+restart: %v", err)
		}
	})
}

func TestClosedAddr(t *testing.T) {
	addr := ClosedAddr(t)
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("%s accepted a connection", addr)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial %s: %v, want connection refused", addr, err)
	}
}

func TestTCPServer(t *testing.T) {
	addr := TCPServer(t, func(c net.Conn) { c.Write([]byte("hello")) })
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute)) // a hang limit
	if b, err := io.ReadAll(c); err != nil || string(b) != "hello" {
		t.Errorf("read %q, %v; want hello, then the connection closed", b, err)
	}

	// A black hole holds the connection, unanswered, until its test ends.
	var held net.Conn
	t.Run("black hole", func(t *testing.T) {
		held, err = net.Dial("tcp", TCPServer(t, nil))
		if err != nil {
			t.Fatal(err)
		}
		_ = held.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if n, err := held.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("read %d bytes, %v; want nothing until the deadline", n, err)
		}
	})
	if held == nil {
		return
	}
	defer held.Close()
	_ = held.SetReadDeadline(time.Now().Add(time.Minute)) // a hang limit
	if _, err := held.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read after the test ended: %v, want EOF", err)
	}
}
