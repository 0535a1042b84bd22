package testenv

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TorBinary returns the path of tor ("tor" from PATH or PORTAL_TOR), or
// skips the test (fails it when CI is set).
func TorBinary(t testing.TB) string {
	t.Helper()
	skipShort(t, "tor")
	if p := os.Getenv("PORTAL_TOR"); p != "" {
		return xmppNeedBinary(t, "tor (PORTAL_TOR)", p)
	}
	return xmppNeedBinary(t, "tor", "tor", "/usr/sbin/tor", "/usr/bin/tor")
}

// ---- one offline tor with a control socket ----

// TorOptions configure StartTor.
type TorOptions struct {
	// ControlPassword, when set, also opens a TCP ControlPort on 127.0.0.1
	// that accepts this password (HashedControlPassword) besides the cookie.
	ControlPassword string
}

// Tor is a standalone tor started for one test, standing in for a system
// tor: network disabled, no SocksPort, a ControlSocket with cookie
// authentication. It is stopped (by PID) when the test ends.
type Tor struct {
	Dir           string
	ControlSocket string // unix socket path
	CookieFile    string
	ControlAddr   string // 127.0.0.1:port when TorOptions.ControlPassword was set

	node *torNode
}

// PID returns the tor's process id (0 once it has exited).
func (x *Tor) PID() int { return x.node.pid() }

// Alive reports whether the tor process still runs.
func (x *Tor) Alive() bool { return x.node.alive() }

// StartTor starts an offline tor for t and returns when its control socket
// exists.
func StartTor(t testing.TB, opt TorOptions) *Tor {
	t.Helper()
	bin := TorBinary(t)
	dir := torTempDir(t, "tor")
	run := filepath.Join(dir, "run") // the ControlSocket's directory must be 0700
	data := filepath.Join(dir, "data")
	for _, d := range []string{run, data} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	x := &Tor{Dir: dir, ControlSocket: filepath.Join(run, "control"), CookieFile: filepath.Join(run, "control.authcookie")}
	conf := []string{
		"DataDirectory " + data,
		"DisableNetwork 1",
		"SocksPort 0",
		"ControlSocket " + x.ControlSocket,
		"CookieAuthentication 1",
		"CookieAuthFile " + x.CookieFile,
		"Log notice file " + filepath.Join(dir, "notice.log"),
		"ShutdownWaitLength 0",
		`GeoIPFile ""`,
		`GeoIPv6File ""`,
		"__OwningControllerProcess " + strconv.Itoa(os.Getpid()),
	}
	if opt.ControlPassword != "" {
		out, err := exec.Command(bin, "--quiet", "--hash-password", opt.ControlPassword).Output()
		hash := strings.TrimSpace(lastLine(string(out)))
		if err != nil || !strings.HasPrefix(hash, "16:") {
			t.Fatalf("testenv: tor --hash-password: %v %q", err, out)
		}
		port := xmppFreePort(t)
		x.ControlAddr = "127.0.0.1:" + strconv.Itoa(port)
		conf = append(conf, "ControlPort "+x.ControlAddr, "HashedControlPassword "+hash)
	}
	torrc := filepath.Join(dir, "torrc")
	if err := os.WriteFile(torrc, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	x.node = startTorNode(t, bin, "tor", dir, torrc)
	deadline := time.Now().Add(torHangLimit)
	for {
		if _, err := os.Stat(x.ControlSocket); err == nil {
			if x.ControlAddr == "" {
				break
			}
			if c, err := net.DialTimeout("tcp", x.ControlAddr, time.Second); err == nil {
				c.Close()
				break
			}
		}
		if !x.node.alive() || time.Now().After(deadline) {
			t.Fatalf("testenv: tor did not open its control socket (exited: %v)\n%s", !x.node.alive(), x.node.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return x
}

// torHangLimit bounds every wait of this file for something tor does at
// start (a control socket, a consensus, a bootstrap): each wait ends as soon
// as tor reports it, or at once when the tor exits, so only a hang reaches
// the limit. The slowest of them, a private network's first complete
// consensus, took 15–16 s here with the 2 cores under a load of 15.
const torHangLimit = 5 * time.Minute

// ---- a private Tor network on loopback ----

// TorNetOptions configure StartTorNet.
type TorNetOptions struct {
	// Relays is the number of plain relays besides the 3 directory
	// authorities (which are relays too); default 3.
	Relays int
}

// TorNet is a private Tor network on 127.0.0.1 (chutney's hs-v3-min shape):
// 3 directory authorities that are also relays, plain relays and one
// client, all with TestingTorNetwork 1, 10 s voting and AssumeReachable 1.
// Every tor is stopped by PID when the test ends, passed or failed.
//
// It starts in phases, each gated by what tor reports rather than by time:
// StartTorNet launches the authorities and relays; WaitConsensus waits until
// every authority has a consensus that lists every relay as a running
// HSDir; only then do StartClient (and the test's onion service tor) start.
// A tor that asks for a consensus before one exists gets 404 and tries
// again after a random delay drawn from [1 s, 3 × the last delay], with no
// cap (tor's dlstatus.c, counted per attempt): when load makes the first
// consensus late, the delays grow (up to 24 s seen here with both cores
// busy), and until the next try the client has no consensus and stalls
// every SOCKS request for an onion address ("missing a live consensus"),
// while the onion service tor, on another schedule, may long be published.
// The first consensuses also list only the relays whose descriptors the
// authorities had by then (an onion service tor here started with 5 of 6),
// and a tor picks its guards and computes the HSDirs from what it has. A
// tor started after the gate gets the complete consensus at its first try.
type TorNet struct {
	Dir string
	// SocksAddr is the client's SocksPort, 127.0.0.1:port (set by
	// StartClient).
	SocksAddr string
	// ServiceTorrc is a torrc fragment for an onion service's own tor (for
	// example through %include): the test-network settings and the
	// authorities of this network.
	ServiceTorrc string
	// Started is when the authorities and relays were launched.
	Started time.Time

	t          testing.TB
	bin        string
	nodes      []*torNode
	auths      []*torNetNode
	relays     []string // nicknames of every relay, authorities included
	client     *torNetNode
	consensus  time.Duration // set by WaitConsensus
	controls   []*TorControl
	controlsMu sync.Mutex
}

// torNetNode is one tor of a TorNet as configured.
type torNetNode struct {
	nick                     string
	dir                      string
	torrc                    string
	orPort, dirPort, ctlPort int
	socksAddr                string // the client's
	authority, client        bool
}

// StartTorNet generates keys and configurations for a private network and
// starts its authorities and relays at once; it returns without waiting
// for a consensus (see WaitConsensus and StartClient).
func StartTorNet(t testing.TB, opt TorNetOptions) *TorNet {
	t.Helper()
	if opt.Relays == 0 {
		opt.Relays = 3
	}
	if opt.Relays < 1 {
		t.Fatal("testenv: TorNet needs at least one relay besides the authorities")
	}
	bin := TorBinary(t)
	gencert := xmppNeedBinary(t, "tor-gencert (package tor)", "tor-gencert", "/usr/bin/tor-gencert")
	n := &TorNet{Dir: torTempDir(t, "tornet"), t: t, bin: bin}
	t.Cleanup(n.Stop)

	const nAuth = 3
	var nodes []*torNetNode
	for i := 0; i < nAuth+opt.Relays+1; i++ {
		nd := &torNetNode{dir: filepath.Join(n.Dir, fmt.Sprintf("node%d", i)), ctlPort: xmppFreePort(t)}
		switch {
		case i < nAuth:
			nd.authority = true
			nd.nick = fmt.Sprintf("test%03da", i)
		case i < nAuth+opt.Relays:
			nd.nick = fmt.Sprintf("test%03dr", i)
		default:
			nd.client = true
			nd.nick = fmt.Sprintf("test%03dc", i)
		}
		if !nd.client {
			nd.orPort, nd.dirPort = xmppFreePort(t), xmppFreePort(t)
			n.relays = append(n.relays, nd.nick)
		}
		if err := os.MkdirAll(filepath.Join(nd.dir, "keys"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(nd.dir, 0o700); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, nd)
	}

	// Authority keys: an authority certificate (tor-gencert) and the relay
	// identity fingerprint, in parallel (RSA key generation is the slow part).
	dirAuth := make([]string, nAuth)
	var wg sync.WaitGroup
	errs := make([]error, nAuth)
	for i := 0; i < nAuth; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			dirAuth[i], errs[i] = authorityLine(bin, gencert, nodes[i].nick, nodes[i].dir, nodes[i].orPort, nodes[i].dirPort)
		}(i)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("testenv: tor network keys: %v", err)
	}
	dirAuthConf := filepath.Join(n.Dir, "dirauth.conf")
	if err := os.WriteFile(dirAuthConf, []byte(strings.Join(dirAuth, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	common := []string{
		"TestingTorNetwork 1",
		"PathsNeededToBuildCircuits 0.67",
		"TestingDirAuthVoteExit *",
		"TestingDirAuthVoteHSDir *",
		"TestingDirAuthVoteGuard *",
		"TestingMinExitFlagThreshold 0",
		"V3AuthNIntervalsValid 2",
		"ShutdownWaitLength 0",
		"SafeLogging 0",
		"LogTimeGranularity 1",
		`GeoIPFile ""`, // no GeoIP parsing: seconds of CPU per tor on a busy machine
		`GeoIPv6File ""`,
		// A fixed circuit build timeout instead of a learned one: on
		// loopback circuits build in milliseconds, and a timeout learned
		// from those (tor's minimum is 10 ms) is one a busy machine
		// exceeds, so circuits would be abandoned that were about to be
		// built. 60 s is tor's own initial value.
		"LearnCircuitBuildTimeout 0",
		"CircuitBuildTimeout 60",
		"%include " + dirAuthConf,
	}
	n.ServiceTorrc = filepath.Join(n.Dir, "service.torrc")
	svc := append(append([]string{}, common...),
		"Log notice file "+filepath.Join(n.Dir, "service-notice.log"),
		"Log info file "+filepath.Join(n.Dir, "service-info.log"))
	if err := os.WriteFile(n.ServiceTorrc, []byte(strings.Join(svc, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, nd := range nodes {
		conf := append(append([]string{}, common...),
			"DataDirectory "+nd.dir,
			"Nickname "+nd.nick,
			"ConnLimit 60",
			"ControlPort 127.0.0.1:"+strconv.Itoa(nd.ctlPort),
			"CookieAuthentication 1",
			"Log notice file "+filepath.Join(nd.dir, "notice.log"),
			"__OwningControllerProcess "+strconv.Itoa(os.Getpid()),
		)
		if nd.client {
			nd.socksAddr = "127.0.0.1:" + strconv.Itoa(xmppFreePort(t))
			conf = append(conf, "SocksPort "+nd.socksAddr+" ExtendedErrors",
				// The onion service client's details (descriptor fetches,
				// introduction, rendezvous) are logged at info level only.
				"Log info file "+filepath.Join(nd.dir, "info.log"))
		} else {
			conf = append(conf,
				"SocksPort 0",
				"ORPort 127.0.0.1:"+strconv.Itoa(nd.orPort),
				"DirPort 127.0.0.1:"+strconv.Itoa(nd.dirPort),
				"Address 127.0.0.1",
				"ExitRelay 0",
				"ExitPolicy reject *:*",
				"ServerDNSDetectHijacking 0",
				"ServerDNSTestAddresses",
				"ServerDNSResolvConfFile /dev/null",
				"AssumeReachable 1",
			)
		}
		if nd.authority {
			conf = append(conf,
				"AuthoritativeDirectory 1",
				"V3AuthoritativeDirectory 1",
				"ContactInfo "+nd.nick+"@test.test",
				"TestingV3AuthInitialVotingInterval 10",
				"TestingV3AuthInitialVoteDelay 2",
				"TestingV3AuthInitialDistDelay 2",
				"V3AuthVotingInterval 10",
				"V3AuthVoteDelay 2",
				"V3AuthDistDelay 2",
			)
		}
		nd.torrc = filepath.Join(nd.dir, "torrc")
		if err := os.WriteFile(nd.torrc, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		switch {
		case nd.authority:
			n.auths = append(n.auths, nd)
		case nd.client:
			n.client = nd
		}
	}
	n.Started = time.Now()
	for _, nd := range nodes {
		if !nd.client {
			n.nodes = append(n.nodes, startTorNode(t, bin, nd.nick, nd.dir, nd.torrc))
		}
	}
	return n
}

// WaitConsensus waits until every authority has a consensus that lists every
// relay of the network with the flags Running, Valid, Guard and HSDir, as
// the authorities report it on their control ports (GETINFO ns/all, checked
// again at every NEWCONSENSUS event). It returns how long after Started
// that was; later calls return the same figure at once. It fails the test
// when an authority exits, or at torHangLimit.
func (n *TorNet) WaitConsensus(t testing.TB) time.Duration {
	t.Helper()
	if n.consensus > 0 {
		return n.consensus
	}
	ctx, cancel := context.WithTimeout(context.Background(), torHangLimit)
	defer cancel()
	for _, nd := range n.auths {
		c := n.control(t, ctx, nd, "NEWCONSENSUS")
		var missing []string
		err := c.WaitFor(ctx, func() (bool, error) {
			all, err := c.GetInfo(ctx, "ns/all")
			if err != nil {
				return false, err
			}
			missing = consensusMissing(all, n.relays, "Running", "Valid", "Guard", "HSDir")
			return len(missing) == 0, nil
		})
		if err != nil {
			t.Fatalf("testenv: authority %s has no consensus listing every relay after %v (missing or without the flags Running, Valid, Guard, HSDir: %v): %v\n%s",
				nd.nick, time.Since(n.Started).Round(time.Millisecond), missing, err, n.LogTail())
		}
		c.Close() // its events stay for LogTail
	}
	n.consensus = time.Since(n.Started)
	return n.consensus
}

// consensusMissing returns the relays of want that the router status
// entries in ns (the "r" and "s" lines of a consensus) do not list with
// every one of flags.
func consensusMissing(ns string, want []string, flags ...string) []string {
	have := map[string]bool{}
	nick := ""
	for _, l := range strings.Split(ns, "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 2 && f[0] == "r":
			nick = f[1]
		case len(f) >= 1 && f[0] == "s" && nick != "":
			ok := true
			for _, fl := range flags {
				ok = ok && slices.Contains(f[1:], fl)
			}
			have[nick] = ok
			nick = ""
		}
	}
	var missing []string
	for _, w := range want {
		if !have[w] {
			missing = append(missing, w)
		}
	}
	return missing
}

// StartClient starts the network's client tor once the network has a
// complete consensus (it calls WaitConsensus), sets SocksAddr and returns a
// control connection to the client that records its STATUS_CLIENT, HS_DESC
// and NEWCONSENSUS events. It returns without waiting for the bootstrap
// (see TorControl.WaitBootstrapped).
func (n *TorNet) StartClient(t testing.TB) *TorControl {
	t.Helper()
	n.WaitConsensus(t)
	nd := n.client
	n.nodes = append(n.nodes, startTorNode(t, n.bin, nd.nick, nd.dir, nd.torrc))
	n.SocksAddr = nd.socksAddr
	ctx, cancel := context.WithTimeout(context.Background(), torHangLimit)
	defer cancel()
	return n.control(t, ctx, nd, "STATUS_CLIENT", "HS_DESC", "NEWCONSENSUS")
}

// control connects to a node's control port (retrying while tor opens it)
// and subscribes to events.
func (n *TorNet) control(t testing.TB, ctx context.Context, nd *torNetNode, events ...string) *TorControl {
	t.Helper()
	var tn *torNode
	for _, x := range n.nodes {
		if x.dir == nd.dir {
			tn = x
		}
	}
	addr := "127.0.0.1:" + strconv.Itoa(nd.ctlPort)
	cookie := filepath.Join(nd.dir, "control_auth_cookie")
	for {
		c, err := DialTorControl(ctx, nd.nick, addr, cookie, events...)
		if err == nil {
			t.Cleanup(func() { c.Close() })
			n.controlsMu.Lock()
			n.controls = append(n.controls, c)
			n.controlsMu.Unlock()
			return c
		}
		if (tn != nil && !tn.alive()) || ctx.Err() != nil {
			t.Fatalf("testenv: control port of %s: %v\n%s", nd.nick, err, n.LogTail())
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond): // tor opens its control port shortly after it starts
		}
	}
}

// authorityLine makes an authority's keys in dir and returns its
// DirAuthority line.
func authorityLine(bin, gencert, nick, dir string, orPort, dirPort int) (string, error) {
	keys := filepath.Join(dir, "keys")
	cmd := exec.Command(gencert, "--create-identity-key", "--passphrase-fd", "0", "-m", "12",
		"-a", "127.0.0.1:"+strconv.Itoa(dirPort),
		"-i", filepath.Join(keys, "authority_identity_key"),
		"-s", filepath.Join(keys, "authority_signing_key"),
		"-c", filepath.Join(keys, "authority_certificate"))
	cmd.Stdin = strings.NewReader("\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("tor-gencert for %s: %v\n%s", nick, err, out)
	}
	cert, err := os.ReadFile(filepath.Join(keys, "authority_certificate"))
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^fingerprint ([0-9A-F]{40})$`).FindSubmatch(cert)
	if m == nil {
		return "", fmt.Errorf("no fingerprint in %s's authority certificate", nick)
	}
	v3id := string(m[1])
	out, err := exec.Command(bin, "--ignore-missing-torrc", "-f", "/dev/null", "--DataDirectory", dir,
		"--Nickname", nick, "--ORPort", "1", "--list-fingerprint", "--quiet").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("tor --list-fingerprint for %s: %v\n%s", nick, err, out)
	}
	_, fpr, _ := strings.Cut(strings.TrimSpace(lastLine(string(out))), " ")
	fpr = strings.ReplaceAll(fpr, " ", "")
	if !regexp.MustCompile(`^[0-9A-F]{40}$`).MatchString(fpr) {
		return "", fmt.Errorf("tor --list-fingerprint for %s: unexpected output %q", nick, out)
	}
	return fmt.Sprintf("DirAuthority %s orport=%d no-v2 v3ident=%s 127.0.0.1:%d %s", nick, orPort, v3id, dirPort, fpr), nil
}

// Stop stops every tor of the network by PID (SIGTERM, then SIGKILL) and
// waits for them. It is registered as a cleanup and may be called earlier.
func (n *TorNet) Stop() {
	var wg sync.WaitGroup
	for _, nd := range n.nodes {
		wg.Add(1)
		go func() { defer wg.Done(); nd.stop() }()
	}
	wg.Wait()
	if n.t.Failed() {
		n.t.Logf("testenv: private tor network logs:\n%s", n.LogTail())
	}
}

// PIDs returns the process ids of the network's tors that still run.
func (n *TorNet) PIDs() []int {
	var pids []int
	for _, nd := range n.nodes {
		if nd.alive() {
			pids = append(pids, nd.pid())
		}
	}
	return pids
}

// LogTail returns the last lines of every node's log.
func (n *TorNet) LogTail() string {
	var b strings.Builder
	for _, nd := range n.nodes {
		b.WriteString(nd.logTail())
	}
	if data, err := os.ReadFile(filepath.Join(n.Dir, "service-notice.log")); err == nil {
		fmt.Fprintf(&b, "--- onion service tor\n%s\n", tail(string(data), 30))
	}
	n.controlsMu.Lock()
	cs := slices.Clone(n.controls)
	n.controlsMu.Unlock()
	for _, c := range cs {
		fmt.Fprintf(&b, "--- events of %s\n%s\n", c.Name, c.EventTail(20))
	}
	return b.String()
}

// ---- tor's control port ----

// TorEvent is an asynchronous event ("650" reply) that a tor reported on a
// control connection.
type TorEvent struct {
	At   time.Time // when it was read
	Type string    // HS_DESC, STATUS_CLIENT, NEWCONSENSUS, …
	Args []string  // the words after the type on its first line
	Data []string  // the lines of a multi-line event (NEWCONSENSUS)
}

// Arg returns the i-th word after the type, or "".
func (e TorEvent) Arg(i int) string {
	if i < len(e.Args) {
		return e.Args[i]
	}
	return ""
}

func (e TorEvent) String() string {
	s := e.At.Format("15:04:05.000") + " " + e.Type + " " + strings.Join(e.Args, " ")
	if len(e.Data) > 0 {
		s += fmt.Sprintf(" (+%d lines)", len(e.Data))
	}
	return s
}

// TorControl is a controller connection to one tor of a test (a node of a
// TorNet, or a tor that the code under test started). It records every
// event tor reports, so that a test waits for what tor says has happened
// (bootstrapped, descriptor uploaded, descriptor received) instead of for a
// fixed time.
type TorControl struct {
	Name string

	conn    net.Conn
	cmdMu   sync.Mutex // one command at a time
	replies chan torReply
	dead    chan struct{} // closed when the reader stops

	mu      sync.Mutex
	events  []TorEvent
	changed chan struct{} // closed at the next event (and when the connection ends)
	err     error         // why the connection ended
}

type torReply struct {
	code  string
	lines []torReplyLine
}

type torReplyLine struct {
	text string
	data []string // for "+" lines
}

// DialTorControl connects to a tor's control port at addr (host:port),
// authenticates with the cookie in cookieFile and subscribes to events
// (SETEVENTS).
func DialTorControl(ctx context.Context, name, addr, cookieFile string, events ...string) (*TorControl, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &TorControl{Name: name, conn: conn, dead: make(chan struct{}), changed: make(chan struct{}),
		// Room for the reply to a command abandoned at its deadline (the
		// connection is then closed), so that the reader never blocks.
		replies: make(chan torReply, 1)}
	go c.read(textproto.NewReader(bufio.NewReader(conn)))
	cookie, err := os.ReadFile(cookieFile)
	if err == nil && len(cookie) != 32 {
		err = fmt.Errorf("cookie file %s has %d bytes, want 32", cookieFile, len(cookie))
	}
	if err == nil {
		_, err = c.do(ctx, "AUTHENTICATE "+hex.EncodeToString(cookie))
	}
	if err == nil && len(events) > 0 {
		_, err = c.do(ctx, "SETEVENTS "+strings.Join(events, " "))
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("tor control of %s (%s): %w", name, addr, err)
	}
	return c, nil
}

// AttachTor connects to the control port of a tor that the code under test
// started with its data directory dataDir, ControlPortWriteToFile and cookie
// authentication (as bine starts tor): it waits until tor has written the
// port into a file matching the glob portFiles and its cookie
// (dataDir/control_auth_cookie), then authenticates and subscribes to
// events. It fails the test at torHangLimit.
func AttachTor(t testing.TB, name, dataDir, portFiles string, events ...string) *TorControl {
	t.Helper()
	skipShort(t, "tor")
	ctx, cancel := context.WithTimeout(context.Background(), torHangLimit)
	defer cancel()
	var err error
	for {
		var addr string
		files, _ := filepath.Glob(portFiles)
		for _, f := range files {
			b, _ := os.ReadFile(f)
			if a, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "PORT="); ok {
				addr = a
			}
		}
		if addr == "" {
			err = fmt.Errorf("no port written to %s", portFiles)
		} else {
			var c *TorControl
			if c, err = DialTorControl(ctx, name, addr, filepath.Join(dataDir, "control_auth_cookie"), events...); err == nil {
				t.Cleanup(func() { c.Close() })
				return c
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("testenv: control port of %s: %v", name, err)
		case <-time.After(20 * time.Millisecond): // tor writes the file when its control port is open
		}
	}
}

// Close ends the connection.
func (c *TorControl) Close() error { return c.conn.Close() }

// read reads replies until the connection ends: events are recorded,
// anything else answers the command in flight.
func (c *TorControl) read(r *textproto.Reader) {
	var err error
	for {
		var rep torReply
		if rep, err = readTorReply(r); err != nil {
			break
		}
		if rep.code != "650" {
			c.replies <- rep
			continue
		}
		words := splitTorArgs(rep.lines[0].text)
		if len(words) == 0 {
			continue
		}
		c.mu.Lock()
		c.events = append(c.events, TorEvent{At: time.Now(), Type: words[0], Args: words[1:], Data: rep.lines[0].data})
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
	}
	c.mu.Lock()
	c.err = fmt.Errorf("tor control of %s: connection ended: %w", c.Name, err)
	close(c.changed) // never replaced: every later wait sees the end at once
	c.mu.Unlock()
	close(c.dead)
}

// readTorReply reads one reply (all its lines) from a control connection.
func readTorReply(r *textproto.Reader) (torReply, error) {
	var rep torReply
	for {
		line, err := r.ReadLine()
		if err != nil {
			return rep, err
		}
		if len(line) < 4 {
			return rep, fmt.Errorf("bad reply line %q", line)
		}
		rep.code = line[:3]
		l := torReplyLine{text: line[4:]}
		switch line[3] {
		case '+':
			if l.data, err = r.ReadDotLines(); err != nil {
				return rep, err
			}
		case '-':
		case ' ':
			rep.lines = append(rep.lines, l)
			return rep, nil
		default:
			return rep, fmt.Errorf("bad reply line %q", line)
		}
		rep.lines = append(rep.lines, l)
	}
}

// splitTorArgs splits an event line into words; a quoted value
// (KEY="a b") stays one word.
func splitTorArgs(s string) []string {
	var words []string
	var b strings.Builder
	quoted, escaped := false, false
	for _, r := range s {
		switch {
		case escaped:
			escaped = false
		case quoted && r == '\\':
			escaped = true
		case r == '"':
			quoted = !quoted
		case r == ' ' && !quoted:
			if b.Len() > 0 {
				words = append(words, b.String())
				b.Reset()
			}
			continue
		}
		b.WriteRune(r)
	}
	if b.Len() > 0 {
		words = append(words, b.String())
	}
	return words
}

// do sends one command and returns its reply; a reply other than 2xx is an
// error. When ctx ends first the connection is closed, because a late reply
// would be taken for the next command's.
func (c *TorControl) do(ctx context.Context, cmd string) (torReply, error) {
	c.cmdMu.Lock()
	defer c.cmdMu.Unlock()
	verb, _, _ := strings.Cut(cmd, " ")
	if _, err := io.WriteString(c.conn, cmd+"\r\n"); err != nil {
		return torReply{}, fmt.Errorf("%s: %w", verb, err)
	}
	select {
	case rep := <-c.replies:
		if !strings.HasPrefix(rep.code, "2") {
			return rep, fmt.Errorf("%s: tor says %s %s", verb, rep.code, rep.lines[0].text)
		}
		return rep, nil
	case <-c.dead:
		return torReply{}, fmt.Errorf("%s: %w", verb, c.Err())
	case <-ctx.Done():
		c.conn.Close()
		return torReply{}, fmt.Errorf("%s: %w", verb, ctx.Err())
	}
}

// GetInfo returns tor's value for key (GETINFO); the lines of a multi-line
// value are joined with "\n".
func (c *TorControl) GetInfo(ctx context.Context, key string) (string, error) {
	rep, err := c.do(ctx, "GETINFO "+key)
	if err != nil {
		return "", err
	}
	for _, l := range rep.lines {
		if v, ok := strings.CutPrefix(l.text, key+"="); ok {
			if l.data != nil {
				return strings.Join(l.data, "\n"), nil
			}
			return v, nil
		}
	}
	return "", fmt.Errorf("GETINFO %s: no value in the reply", key)
}

// Events returns the events recorded from index from on (0 is the first
// event of the connection), the index to pass next time, and a channel that
// is closed when the next event arrives or the connection ends.
func (c *TorControl) Events(from int) ([]TorEvent, int, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	from = min(max(from, 0), len(c.events))
	return slices.Clone(c.events[from:]), len(c.events), c.changed
}

// Err returns why the connection ended (tor exited, or Close), nil while it
// is open.
func (c *TorControl) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// EventTail returns the last n events, one a line.
func (c *TorControl) EventTail(n int) string {
	evs, _, _ := c.Events(0)
	evs = evs[max(0, len(evs)-n):]
	lines := make([]string, len(evs))
	for i, e := range evs {
		lines[i] = e.String()
	}
	return strings.Join(lines, "\n")
}

// WaitFor evaluates done at once and again after every event tor reports on
// this connection, until done returns true or an error, ctx ends, or the
// connection ends (for example because tor exited).
func (c *TorControl) WaitFor(ctx context.Context, done func() (bool, error)) error {
	for {
		_, _, changed := c.Events(math.MaxInt) // before done: no event is missed
		if ok, err := done(); ok || err != nil {
			return err
		}
		select {
		case <-changed:
			if err := c.Err(); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// WaitBootstrapped waits until tor reports that it has bootstrapped
// (status/bootstrap-phase at PROGRESS=100) and has built a circuit
// (status/circuit-established), checked at once and after every event; the
// connection must receive STATUS_CLIENT events, which tor sends at every
// step of both.
func (c *TorControl) WaitBootstrapped(ctx context.Context) error {
	var last string
	err := c.WaitFor(ctx, func() (bool, error) {
		phase, err := c.GetInfo(ctx, "status/bootstrap-phase")
		if err != nil {
			return false, err
		}
		est, err := c.GetInfo(ctx, "status/circuit-established")
		if err != nil {
			return false, err
		}
		last = phase + "; circuit-established=" + est
		return slices.Contains(splitTorArgs(phase), "PROGRESS=100") && est == "1", nil
	})
	if err != nil {
		return fmt.Errorf("%s not bootstrapped (%s): %w", c.Name, last, err)
	}
	return nil
}

// WaitUploaded waits until the onion service tor behind c has reported the
// outcome (HS_DESC UPLOADED or FAILED) of every descriptor upload for the
// service id (56 characters, no ".onion") that it reported starting
// (HS_DESC UPLOAD), and at least one upload succeeded. It returns the HSDirs
// that confirmed an upload and the number of uploads it saw start. The
// connection must receive HS_DESC events from before the first upload; an
// outcome without its UPLOAD (the connection came late) still counts.
//
// A client asks an HSDir among hsdir_spread_fetch (3) per replica of the
// hash ring, the service uploads to hsdir_spread_store (4) per replica, so
// with the same consensus every HSDir a client asks has the descriptor once
// every upload is confirmed; after the first one alone, the client can pick
// one that has it not yet, and gives up when all it may ask said 404.
func (c *TorControl) WaitUploaded(ctx context.Context, id string) (confirmed []string, started int, err error) {
	var ok []string
	var pending map[string]int
	err = c.WaitFor(ctx, func() (bool, error) {
		evs, _, _ := c.Events(0)
		ok, pending, started = nil, map[string]int{}, 0
		for _, e := range evs {
			if e.Type != "HS_DESC" || e.Arg(1) != id {
				continue
			}
			dir := e.Arg(3) // $fingerprint~nickname
			if i := strings.IndexAny(dir, "~="); i > 0 {
				dir = dir[:i]
			}
			switch e.Arg(0) {
			case "UPLOAD":
				pending[dir]++
				started++
			case "UPLOADED", "FAILED":
				if pending[dir] > 0 {
					pending[dir]--
				}
				if e.Arg(0) == "UPLOADED" && !slices.Contains(ok, dir) {
					ok = append(ok, dir)
				}
			}
		}
		for _, p := range pending {
			if p > 0 {
				return false, nil
			}
		}
		return len(ok) > 0, nil
	})
	if err != nil {
		return ok, started, fmt.Errorf("%s: descriptor of %s not uploaded everywhere (confirmed by %v, unanswered %v): %w", c.Name, id, ok, pending, err)
	}
	return ok, started, nil
}

// ---- tor processes ----

type torNode struct {
	name string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
	out  *LockedBuffer
}

// startTorNode runs tor -f torrc in the foreground as a child in its own
// process group (killed with the test binary) and registers its stop.
func startTorNode(t testing.TB, bin, name, dir, torrc string) *torNode {
	t.Helper()
	nd := &torNode{name: name, dir: dir, done: make(chan struct{}), out: &LockedBuffer{}}
	nd.cmd = exec.Command(bin, "-f", torrc, "--RunAsDaemon", "0", "--hush")
	nd.cmd.Stdout = nd.out
	nd.cmd.Stderr = nd.cmd.Stdout
	nd.cmd.SysProcAttr = torSysProcAttr()
	if err := nd.cmd.Start(); err != nil {
		t.Fatalf("testenv: starting tor %s: %v", name, err)
	}
	go func() { _ = nd.cmd.Wait(); close(nd.done) }()
	t.Cleanup(nd.stop)
	return nd
}

func (nd *torNode) pid() int {
	if !nd.alive() {
		return 0
	}
	return nd.cmd.Process.Pid
}

func (nd *torNode) alive() bool {
	select {
	case <-nd.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM to the tor's PID, and SIGKILL to its process group
// if it has not exited after 5 s.
func (nd *torNode) stop() {
	if !nd.alive() {
		return
	}
	_ = syscall.Kill(nd.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-nd.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-nd.cmd.Process.Pid, syscall.SIGKILL)
		<-nd.done
	}
}

func (nd *torNode) logTail() string {
	out := nd.out.String()
	lines, log := 15, []byte(nil)
	if info, err := os.ReadFile(filepath.Join(nd.dir, "info.log")); err == nil {
		lines, log = 30, info // the client: its onion service steps are logged at info level
	} else {
		log, _ = os.ReadFile(filepath.Join(nd.dir, "notice.log"))
	}
	if len(log) == 0 {
		log, _ = os.ReadFile(filepath.Join(filepath.Dir(nd.dir), "notice.log"))
	}
	return fmt.Sprintf("--- %s (%s)\n%s%s\n", nd.name, nd.dir, out, tail(string(log), lines))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// torTempDir makes a private (0700) directory, removed when the test ends
// unless it failed and PORTAL_TESTENV_KEEP is set. Paths stay short: tor
// limits unix socket paths.
func torTempDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "portal-"+prefix+"-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("PORTAL_TESTENV_KEEP") != "" {
			t.Logf("testenv: keeping %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	return dir
}

// ---- running a test in a private network namespace ----

const netnsEnv = "PORTAL_TESTENV_NETNS"

// InNetNS reports whether this process runs in the private network
// namespace made by IsolateNetwork.
func InNetNS() bool { return os.Getenv(netnsEnv) == "1" }

// IsolateNetwork runs the calling top-level test again in a new network
// namespace that has only loopback (unshare --net, then ip link set lo up),
// so no packet of the test can leave the machine, and reports whether the
// caller should go on:
//   - true inside that namespace, or when no namespace can be made here
//     (not root, or unshare/ip missing): the test runs on the host's
//     loopback;
//   - false in the outer process: the test ran in the namespace and its
//     output and result were reported; the caller returns at once.
func IsolateNetwork(t *testing.T) bool {
	t.Helper()
	if InNetNS() {
		t.Log("testenv: running in a private network namespace (loopback only)")
		return true
	}
	unshare, err1 := exec.LookPath("unshare")
	ip, err2 := exec.LookPath("ip")
	if err1 != nil || err2 != nil || os.Geteuid() != 0 {
		t.Log("testenv: no private network namespace here (needs root, unshare and ip): running on the host's loopback")
		return true
	}
	if out, err := exec.Command(unshare, "--net", "--", ip, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Logf("testenv: unshare --net failed (%v: %s): running on the host's loopback", err, bytes.TrimSpace(out))
		return true
	}
	args := []string{"--net", "--", "sh", "-c", `"$0" link set lo up && exec "$@"`, ip, os.Args[0],
		"-test.run=^" + regexp.QuoteMeta(t.Name()) + "$", "-test.v", "-test.count=1"}
	if d, ok := t.Deadline(); ok {
		args = append(args, "-test.timeout="+time.Until(d).Round(time.Second).String())
	}
	if testing.Short() {
		// The test skips itself there at its first server (skipShort).
		args = append(args, "-test.short")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, args...)
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	cmd.SysProcAttr = torSysProcAttr()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var out strings.Builder
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			t.Log("ns| " + sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Run()
	pw.Close()
	<-copied
	switch {
	case err != nil:
		t.Errorf("testenv: %s failed in the private network namespace: %v", t.Name(), err)
	case strings.Contains(out.String(), "--- SKIP: "+t.Name()):
		t.Skipf("testenv: %s was skipped in the private network namespace", t.Name())
	case !strings.Contains(out.String(), "--- PASS: "+t.Name()):
		t.Errorf("testenv: %s did not report PASS in the private network namespace", t.Name())
	}
	return false
}
