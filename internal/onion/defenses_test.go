package onion_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/onion"
	"github.com/xmpp-portal/portal/internal/testenv"
)

// TestTorFeatures: the tor of launch mode is asked for its version and
// modules (what portal -check reports); this machine's tor (Debian 0.4.9)
// has the pow module.
func TestTorFeatures(t *testing.T) {
	torPath := testenv.TorBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	defer cancel()
	version, pow, err := onion.TorFeatures(ctx, torPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(version, "0.4.") || strings.Contains(version, "Tor") {
		t.Errorf("version %q", version)
	}
	if !pow {
		t.Errorf("tor %s without the pow module", version)
	}
	t.Logf("tor %s, pow module %v", version, pow)
	if _, _, err := onion.TorFeatures(ctx, "/nonexistent/tor"); err == nil {
		t.Error("a missing tor has features")
	}
}

// TestProbe: in control mode portal -check asks the running tor whether its
// ADD_ONION takes the proof-of-work keywords, without adding a service.
func TestProbe(t *testing.T) {
	x := testenv.StartTor(t, testenv.TorOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	defer cancel()
	cfg := onion.Config{ControlAddr: "unix:" + x.ControlSocket}
	version, pow, err := onion.Probe(ctx, cfg, hangLimit)
	if err != nil {
		t.Fatal(err)
	}
	if !pow || !strings.HasPrefix(version, "0.4.9") {
		t.Errorf("tor %q takes PoW keywords: %v", version, pow)
	}
	// An older tor (the fake one of TestControlModeOldTor) does not.
	old := oldTor(t, "")
	if version, pow, err := onion.Probe(ctx, onion.Config{ControlAddr: old.addr}, hangLimit); err != nil || pow || version != "0.4.8.13" {
		t.Errorf("old tor: %q %v %v", version, pow, err)
	}
	for _, c := range old.commands() {
		if strings.HasPrefix(c, "ADD_ONION ED25519") {
			t.Errorf("the probe added a service: %s", c)
		}
	}
}

// fakeTor is a control port that answers like a tor without ADD_ONION's
// proof-of-work keywords (0.4.8).
type fakeTor struct {
	addr string
	mu   sync.Mutex
	cmds []string
}

func (f *fakeTor) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.cmds...)
}

// oldTor starts the fake tor; it answers ADD_ONION with service id id (it
// cannot derive it from the key).
func oldTor(t *testing.T, id string) *fakeTor {
	f := &fakeTor{}
	f.addr = testenv.TCPServer(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(hangLimit))
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			cmd := strings.TrimRight(line, "\r\n")
			f.mu.Lock()
			f.cmds = append(f.cmds, cmd)
			f.mu.Unlock()
			word, rest, _ := strings.Cut(cmd, " ")
			var answer string
			switch word {
			case "PROTOCOLINFO":
				answer = "250-PROTOCOLINFO 1\r\n250-AUTH METHODS=NULL\r\n250-VERSION Tor=\"0.4.8.13\"\r\n250 OK\r\n"
			case "GETINFO":
				answer = "250-version=0.4.8.13\r\n250 OK\r\n"
			case "ADD_ONION":
				switch {
				case strings.Contains(rest, "PoW"):
					answer = "512 Bad arguments to ADD_ONION: Unrecognized keyword argument \"PoWDefensesEnabled\"\r\n"
				case strings.HasPrefix(rest, "ED25519-V3:"):
					answer = "250-ServiceID=" + id + "\r\n250 OK\r\n"
				default:
					answer = "513 Invalid key type\r\n"
				}
			case "QUIT":
				fmt.Fprint(c, "250 closing connection\r\n")
				return
			default: // AUTHENTICATE, SETEVENTS, DEL_ONION
				answer = "250 OK\r\n"
			}
			if _, err := fmt.Fprint(c, answer); err != nil {
				return
			}
		}
	})
	return f
}

// TestControlModeOldTor: a tor whose ADD_ONION does not know the
// proof-of-work keywords refuses the whole command; the service is added
// again without them, with a warning, and runs.
func TestControlModeOldTor(t *testing.T) {
	state := t.TempDir()
	key, _, err := onion.LoadOrCreateKey(onion.Config{StateDir: state}.KeyDir())
	if err != nil {
		t.Fatal(err)
	}
	expectedID := key.ServiceID()
	old := oldTor(t, expectedID)
	r := start(t, onion.Config{Mode: onion.ModeControl, StateDir: state, ControlAddr: old.addr,
		Defenses: onion.Defenses{PoW: true, PoWQueueRate: 25, PoWQueueBurst: 250},
		RetryMin: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	if err := r.states.waitFor(t, onion.StateAnnouncing, 1); err != nil {
		t.Fatal(err)
	}
	var adds []string
	for _, c := range old.commands() {
		if strings.HasPrefix(c, "ADD_ONION") {
			adds = append(adds, c)
		}
	}
	if len(adds) != 2 || !strings.Contains(adds[0], " PoWDefensesEnabled=1 PoWQueueRate=25 PoWQueueBurst=250") || strings.Contains(adds[1], "PoW") {
		t.Errorf("ADD_ONION commands: %q", adds)
	}
	if l := r.logs.String(); !strings.Contains(l, "onion.pow_unsupported") || !strings.Contains(l, "pow=false") {
		t.Errorf("log:\n%s", l)
	}
	r.stop(t)
	var del bool
	for _, c := range old.commands() {
		del = del || c == "DEL_ONION "+expectedID
	}
	if !del {
		t.Errorf("the service was not removed at stop: %q", old.commands())
	}
}
