package proxyhdr_test

import (
	"bytes"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/proxyhdr"
)

// pipeListener hands out one end of a net.Pipe per Accept.
type pipeListener struct{ conns chan net.Conn }

func (l *pipeListener) Accept() (net.Conn, error) {
	c, ok := <-l.conns
	if !ok {
		return nil, net.ErrClosed
	}
	return c, nil
}
func (l *pipeListener) Close() error   { return nil }
func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// wantCircuit is what the start of a connection says by the letter of tor's
// format: the circuit id of "PROXY TCP6 fc00:dead:beef:4dad::X ::1 P 80\r\n"
// with X's last 32 bits, ports in range; ok false for anything else.
func wantCircuit(b []byte) (uint32, bool) {
	line, _, found := bytes.Cut(b, []byte("\r\n"))
	if !found || len(line) > 105 {
		return 0, false
	}
	f := strings.Split(string(line), " ")
	if len(f) != 6 || f[0] != "PROXY" || f[1] != "TCP6" {
		return 0, false
	}
	src, err1 := netip.ParseAddr(f[2])
	dst, err2 := netip.ParseAddr(f[3])
	if err1 != nil || err2 != nil || !src.Is6() || src.Is4In6() || src.Zone() != "" || dst != netip.IPv6Loopback() {
		return 0, false
	}
	for _, p := range f[4:] {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || strconv.FormatUint(n, 10) != p {
			return 0, false
		}
	}
	a := src.As16()
	if !bytes.Equal(a[:12], []byte{0xfc, 0, 0xde, 0xad, 0xbe, 0xef, 0x4d, 0xad, 0, 0, 0, 0}) {
		return 0, false
	}
	return uint32(a[12])<<24 | uint32(a[13])<<16 | uint32(a[14])<<8 | uint32(a[15]), true
}

// FuzzCircuitHeader: whatever a connection of the onion listener starts
// with, the listener never reads more than the header before deciding, never
// hangs, and accepts exactly tor's header, with its circuit id; any other
// start leaves the connection without a circuit.
func FuzzCircuitHeader(f *testing.F) {
	for _, s := range []string{
		torHeader(0x2a) + get, torHeader(0) + get, torHeader(0xffffffff),
		"PROXY TCP6 fc00:dead:beef:4dad::1 ::1 1 80\r\n", "PROXY TCP6 fc00:dead:beef:4dad::1 ::1 1 80\n",
		"PROXY TCP4 192.0.2.1 192.0.2.2 1 80\r\n", "PROXY UNKNOWN\r\n", get, string(v2Header()),
		"PROXY TCP6 fc00:dead:beef:4dad:0:0:1:2 0:0::1 65535 80\r\n", "PROXY TCP6 ::ffff:192.0.2.1 ::1 1 80\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		pl := &pipeListener{conns: make(chan net.Conn, 1)}
		ln := proxyhdr.Circuits(pl, nil, nil)
		server, client := net.Pipe()
		pl.conns <- server
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		defer client.Close()
		go func() {
			client.SetWriteDeadline(time.Now().Add(5 * time.Second))
			client.Write(in)
			client.Close() // the header, if any, came in that one write
		}()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, len(in)+1)
		n, _ := c.Read(buf)
		id, ok := proxyhdr.CircuitID(c)
		want, wantOK := wantCircuit(in)
		if ok != wantOK || id != want {
			t.Fatalf("%q: circuit %#x %v, want %#x %v", in, id, ok, want, wantOK)
		}
		if ok {
			// What follows the header is the visitor's, unchanged.
			_, rest, _ := bytes.Cut(in, []byte("\r\n"))
			if !bytes.HasPrefix(rest, buf[:n]) {
				t.Fatalf("%q: read %q after the header", in, buf[:n])
			}
		}
	})
}
