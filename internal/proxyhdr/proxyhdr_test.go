package proxyhdr_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/proxyhdr"
	"github.com/xmpp-portal/portal/internal/testenv"
)

// hangLimit bounds every wait for an answer; each ends as soon as the
// server answers or closes.
const hangLimit = time.Minute

// torHeader is the line tor writes for global circuit id gid
// (connection_edge.c, export_hs_client_circuit_id).
func torHeader(gid uint32) string {
	return fmt.Sprintf("PROXY TCP6 fc00:dead:beef:4dad::%x:%x ::1 %d 80\r\n", gid>>16, gid&0xffff, gid&0xffff)
}

// serve runs an HTTP server on ln whose handler answers with the circuit
// of each request ("none" without one).
func serve(t *testing.T, ln net.Listener) {
	t.Helper()
	srv := &http.Server{
		ConnContext: proxyhdr.ConnContext,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, ok := proxyhdr.Circuit(r)
			if !ok {
				io.WriteString(w, "none")
				return
			}
			fmt.Fprintf(w, "%x", id)
		}),
		ReadHeaderTimeout: hangLimit,
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// exchange sends raw on a new connection to addr and returns everything the
// server sends until it closes or answers one request.
func exchange(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(hangLimit))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "closed: " + err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, b)
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func logger(buf *testenv.LockedBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

const get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"

// TestCircuits: on the onion listener with circuit ids, every connection
// carries tor's circuit id, after the id of the tor session it was accepted
// in; the visitor cannot replace it (a PROXY line of its own is HTTP
// garbage); a connection without tor's header is closed and logged, without
// anything of the header in the log.
func TestCircuits(t *testing.T) {
	var logs testenv.LockedBuffer
	// The session is read by the server's goroutine as a connection comes
	// (sync.Mutex: the race detector does not see the order a network
	// connection gives).
	var mu sync.Mutex
	session := []byte("S1")
	setSession := func(s string) { mu.Lock(); session = []byte(s); mu.Unlock() }
	ln := proxyhdr.Circuits(listen(t), func() []byte { mu.Lock(); defer mu.Unlock(); return session }, logger(&logs))
	serve(t, ln)
	addr := ln.Addr().String()
	want := func(sess string, gid uint32) string {
		return fmt.Sprintf("200 %x", binary.BigEndian.AppendUint32([]byte(sess), gid))
	}

	if got := exchange(t, addr, torHeader(0x2a)+get); got != want("S1", 0x2a) {
		t.Errorf("circuit 42: %q", got)
	}
	if got := exchange(t, addr, torHeader(0xfedcba98)+get); got != want("S1", 0xfedcba98) {
		t.Errorf("circuit 0xfedcba98: %q", got)
	}
	setSession("S2") // tor was restarted: the same circuit id is another circuit
	if got := exchange(t, addr, torHeader(0x2a)+get); got != want("S2", 0x2a) {
		t.Errorf("circuit 42 of the next tor: %q", got)
	}
	// A visitor's own PROXY line comes after tor's: it is the request line.
	if got := exchange(t, addr, torHeader(7)+torHeader(8)+get); !strings.HasPrefix(got, "400 ") {
		t.Errorf("a second PROXY line: %q, want 400 from the HTTP server", got)
	}
	if strings.Contains(logs.String(), "refused") {
		t.Errorf("tor's headers were refused:\n%s", logs.String())
	}

	refused := []struct{ name, raw string }{
		{"no header", get},
		{"TCP4", "PROXY TCP4 192.0.2.1 192.0.2.2 1 80\r\n" + get},
		{"another source prefix", "PROXY TCP6 2001:db8::1 ::1 1 80\r\n" + get},
		{"another destination", "PROXY TCP6 fc00:dead:beef:4dad::1 2001:db8::2 1 80\r\n" + get},
		{"UNKNOWN", "PROXY UNKNOWN\r\n" + get},
		{"version 2", string(v2Header()) + get},
		{"malformed", "PROXY TCP6 fc00:dead:beef:4dad::1\r\n" + get},
		{"too long", "PROXY TCP6 " + strings.Repeat("f", 200) + "\r\n" + get},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			before := strings.Count(logs.String(), "onion.circuit_header_refused")
			if got := exchange(t, addr, tc.raw); !strings.HasPrefix(got, "closed") {
				t.Fatalf("served: %q", got)
			}
			if n := strings.Count(logs.String(), "onion.circuit_header_refused"); n != before+1 {
				t.Errorf("refusal logged %d times, want once:\n%s", n-before, logs.String())
			}
		})
	}
	for _, leak := range []string{"192.0.2", "2001:db8", "fc00", "dead:beef"} {
		if strings.Contains(logs.String(), leak) {
			t.Errorf("log holds %q:\n%s", leak, logs.String())
		}
	}
}

// TestCircuitHeaderInOneRead: a header that does not arrive in one piece is
// refused at once (no slow loris), a silent connection after HeaderTimeout at
// the latest (not waited for here).
func TestCircuitHeaderInOneRead(t *testing.T) {
	var logs testenv.LockedBuffer
	ln := proxyhdr.Circuits(listen(t), nil, logger(&logs))
	serve(t, ln)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(hangLimit))
	io.WriteString(c, "PROXY TCP6 fc00:dead:")
	// The server has not seen the rest: it refuses what it has.
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("a partial header was answered")
	}
	if !strings.Contains(logs.String(), "malformed PROXY header") {
		t.Errorf("log: %s", logs.String())
	}
}

// TestCircuitID: CircuitID reads the id of a connection of Circuits and
// nothing else.
func TestCircuitID(t *testing.T) {
	ln := proxyhdr.Circuits(listen(t), nil, nil)
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			io.WriteString(c, torHeader(0x10002))
			defer c.Close()
			c.Read(make([]byte, 1))
		}
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if id, ok := proxyhdr.CircuitID(c); !ok || id != 0x10002 {
		t.Errorf("CircuitID = %#x, %v", id, ok)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, ok := proxyhdr.CircuitID(a); ok {
		t.Error("a plain connection has a circuit id")
	}
}

// v2Header is a PROXY protocol version 2 header (TCP over IPv6) with tor's
// addresses.
func v2Header() []byte {
	var b bytes.Buffer
	b.WriteString("\r\n\r\n\x00\r\nQUIT\n")
	b.WriteByte(0x21) // version 2, PROXY
	b.WriteByte(0x21) // TCP over IPv6
	binary.Write(&b, binary.BigEndian, uint16(36))
	src := net.ParseIP("fc00:dead:beef:4dad::1:2")
	b.Write(src)
	b.Write(net.IPv6loopback)
	binary.Write(&b, binary.BigEndian, uint16(2))
	binary.Write(&b, binary.BigEndian, uint16(80))
	return b.Bytes()
}

// TestRefuse: on the clearnet listener (and the onion listener without
// circuit ids) requests are served as they come, and a connection that
// starts with a PROXY header, version 1 or 2, well-formed or not, is
// answered 400 and logged as refused, with the listener and the reason and
// none of the header's addresses.
func TestRefuse(t *testing.T) {
	var logs testenv.LockedBuffer
	ln := proxyhdr.Refuse(listen(t), "clearnet", "not expected on this listener", logger(&logs))
	serve(t, ln)
	addr := ln.Addr().String()
	for _, raw := range []string{get, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"} {
		if got := exchange(t, addr, raw); got != "200 none" {
			t.Errorf("%q: %q", raw[:4], got)
		}
	}
	for _, tc := range []struct{ name, raw string }{
		{"v1 TCP4", "PROXY TCP4 192.0.2.1 192.0.2.2 1 80\r\n" + get},
		{"v1 tor's", torHeader(42) + get},
		{"v1 UNKNOWN", "PROXY UNKNOWN\r\n" + get},
		{"v1 malformed", "PROXY garbage\r\n" + get},
		{"v2", string(v2Header()) + get},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := strings.Count(logs.String(), "http.proxy_header_refused")
			got := exchange(t, addr, tc.raw)
			if !strings.HasPrefix(got, "400 PROXY protocol header refused") {
				t.Fatalf("answer %q", got)
			}
			l := logs.String()
			if n := strings.Count(l, "http.proxy_header_refused"); n != before+1 {
				t.Fatalf("logged %d times", n-before)
			}
			if !strings.Contains(l, "listener=clearnet") || !strings.Contains(l, `reason="not expected on this listener"`) {
				t.Errorf("log: %s", l)
			}
		})
	}
	for _, leak := range []string{"192.0.2", "fc00", "dead:beef"} {
		if strings.Contains(logs.String(), leak) {
			t.Errorf("log holds %q:\n%s", leak, logs.String())
		}
	}
}
