package onion

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cretz/bine/control"
	"github.com/cretz/bine/tor"
)

// Modes of getting a tor.
const (
	// ModeLaunch starts a tor child process owned by the portal.
	ModeLaunch = "launch"
	// ModeControl attaches to a running tor through its control port or
	// control socket.
	ModeControl = "control"
)

// States reported by Service.State (and /healthz).
const (
	StateStarting   = "starting"   // tor is being started or attached to
	StateAnnouncing = "announcing" // the service is added to tor; no descriptor uploaded yet
	StatePublished  = "published"  // tor uploaded the service descriptor at least once
	StateRetrying   = "retrying"   // the last attempt failed; the next one follows after a backoff
	StateStopped    = "stopped"    // Run has returned
)

// VirtualPort is the port the service is published on (http://<address>/).
const VirtualPort = 80

// Config configures a Service.
type Config struct {
	Mode     string // ModeLaunch (default) or ModeControl
	StateDir string // holds the key directory and, in launch mode, tor's data directory and torrc

	// Launch mode.
	TorPath    string // tor executable; default "tor" from PATH
	TorrcExtra string // optional file included (%include) in the generated torrc

	// Control mode.
	ControlAddr     string // "host:port", "unix:/path" or "/path"
	ControlPassword string // for HashedControlPassword; empty for cookie authentication
	CookieFile      string // cookie file to use instead of the one tor names

	// Defenses are tor's own defences of the service (proof of work, the
	// introduction rate limit, circuit ids); the zero value has none.
	Defenses Defenses

	Log *slog.Logger

	// RetryMin and RetryMax bound the backoff between attempts
	// (default 1s and 2m). StartTimeout limits starting or attaching to tor
	// and adding the service (default 1m).
	RetryMin, RetryMax time.Duration
	StartTimeout       time.Duration

	// OnState, when set, is called on every state change, in order, from
	// the goroutine that runs Run. It must not block.
	OnState func(state string, err error)
}

// Defenses are tor's own defences of an onion service.
//
// In launch mode the service is configured in the torrc the portal writes
// (HiddenServiceDir, the key directory; HiddenServicePort), so that every
// option below applies. In control mode it is added with ADD_ONION, which
// takes only the proof-of-work keywords (tor 0.4.9 and newer): the
// introduction rate limit and circuit ids are not available there.
type Defenses struct {
	// PoW makes clients solve a puzzle when the service is under load
	// (HiddenServicePoWDefensesEnabled; control mode: ADD_ONION's
	// PoWDefensesEnabled, left out with a warning when tor does not know
	// it). PoWQueueRate and PoWQueueBurst are HiddenServicePoWQueueRate and
	// HiddenServicePoWQueueBurst: rendezvous requests taken from the queue
	// per second (0: no limit) and at once.
	PoW                         bool
	PoWQueueRate, PoWQueueBurst int
	// IntroDoS makes the introduction points rate-limit introductions
	// (HiddenServiceEnableIntroDoSDefense, with IntroDoSRate and
	// IntroDoSBurst per second); launch mode only.
	IntroDoS                    bool
	IntroDoSRate, IntroDoSBurst int
	// ExportCircuitID makes tor start every connection to the local
	// listener with a PROXY protocol header naming its circuit
	// (HiddenServiceExportCircuitID haproxy); launch mode only. See
	// Service.CircuitIDs.
	ExportCircuitID bool
}

// KeyDir is where the key is kept, in tor's HiddenServiceDir format.
func (c Config) KeyDir() string { return filepath.Join(c.StateDir, "hidden_service") }

// DataDir is the DataDirectory of a launched tor.
func (c Config) DataDir() string { return filepath.Join(c.StateDir, "tor") }

// TorrcPath is the torrc written for a launched tor before every start.
func (c Config) TorrcPath() string { return filepath.Join(c.StateDir, "torrc") }

// Service publishes one onion service whose connections arrive on a local
// listener (see Listen). It keeps trying while tor is unavailable.
type Service struct {
	cfg Config
	log *slog.Logger
	key Key

	lnOnce sync.Once
	ln     net.Listener
	lnErr  error

	mu      sync.Mutex
	state   string
	err     error
	changed chan struct{}
	running bool
	pid     int

	ctlMu sync.Mutex // held while cur is used or cleared
	cur   *tor.Tor

	sessMu sync.Mutex
	torID  []byte // random id of the tor in use (launch mode), new with every start

	torLog *logWriter // a launched tor's output, for every tor this service starts
}

// New checks cfg and loads the key from cfg.KeyDir(), creating it on first
// use. It starts nothing: call Listen and Run.
func New(cfg Config) (*Service, error) {
	if cfg.Mode == "" {
		cfg.Mode = ModeLaunch
	}
	switch cfg.Mode {
	case ModeLaunch:
		if cfg.TorPath == "" {
			cfg.TorPath = "tor"
		}
	case ModeControl:
		if cfg.ControlAddr == "" {
			return nil, errors.New("onion: control mode needs a control address")
		}
	default:
		return nil, fmt.Errorf("onion: unknown mode %q (launch or control)", cfg.Mode)
	}
	if cfg.StateDir == "" {
		return nil, errors.New("onion: no state directory")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = time.Second
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(2*time.Minute, cfg.RetryMin)
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = time.Minute
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("onion: state directory: %w", err)
	}
	key, created, err := LoadOrCreateKey(cfg.KeyDir())
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, log: cfg.Log, key: key, state: StateStopped, changed: make(chan struct{}), torLog: &logWriter{log: cfg.Log}}
	if created {
		s.log.Info("onion.key_created", "address", key.Address(), "dir", cfg.KeyDir())
	}
	return s, nil
}

// CircuitIDs reports whether tor starts every connection to the local
// listener with a PROXY protocol header naming its circuit (launch mode with
// Defenses.ExportCircuitID): read it there (internal/proxyhdr.Circuits). In
// control mode, or without the option, no header comes, and one that comes
// is a visitor's and must be refused.
func (s *Service) CircuitIDs() bool {
	return s.cfg.Mode == ModeLaunch && s.cfg.Defenses.ExportCircuitID
}

// Session returns a random id of the tor process the service runs on (16
// bytes, new with every start of tor in launch mode), so that the circuit ids
// of one tor are not taken for those of the next: tor numbers its circuits
// from 1 again when it starts.
func (s *Service) Session() []byte {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	return s.torID
}

// Address returns the service's address, "<56 characters>.onion".
func (s *Service) Address() string { return s.key.Address() }

// Key returns the service's key.
func (s *Service) Key() Key { return s.key }

// Listen opens (once) and returns the local listener on 127.0.0.1 that tor
// forwards the service's connections to. It stays the same across tor
// restarts. Serve HTTP on it; Run does not.
func (s *Service) Listen() (net.Listener, error) {
	s.lnOnce.Do(func() { s.ln, s.lnErr = net.Listen("tcp", "127.0.0.1:0") })
	return s.ln, s.lnErr
}

// State returns the current state (one of the State constants).
func (s *Service) State() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Err returns the error of the last failed attempt, nil after a success.
func (s *Service) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// TorPID returns the process id of the tor started in launch mode, or 0.
func (s *Service) TorPID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pid
}

// WaitState blocks until the state is one of states or ctx is done; it
// returns the state seen last.
func (s *Service) WaitState(ctx context.Context, states ...string) (string, error) {
	for {
		s.mu.Lock()
		st, ch := s.state, s.changed
		s.mu.Unlock()
		if slices.Contains(states, st) {
			return st, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return st, ctx.Err()
		}
	}
}

// GetInfo sends GETINFO key on the service's control connection (for
// diagnostics and tests; "onions/current" lists the services of this
// connection). It fails when no tor is in use.
func (s *Service) GetInfo(key string) (string, error) {
	s.ctlMu.Lock()
	defer s.ctlMu.Unlock()
	if s.cur == nil {
		return "", errors.New("onion: no tor connection")
	}
	kvs, err := s.cur.Control.GetInfo(key)
	if err != nil {
		return "", err
	}
	var vals []string
	for _, kv := range kvs {
		if kv.Key == key {
			vals = append(vals, kv.Val)
		}
	}
	return strings.Join(vals, "\n"), nil
}

// GetConf sends GETCONF key on the service's control connection (for
// diagnostics and tests; in launch mode "HiddenServiceDir" names the key
// directory); several values are joined with newlines.
func (s *Service) GetConf(key string) (string, error) {
	s.ctlMu.Lock()
	defer s.ctlMu.Unlock()
	if s.cur == nil {
		return "", errors.New("onion: no tor connection")
	}
	kvs, err := s.cur.Control.GetConf(key)
	if err != nil {
		return "", err
	}
	var vals []string
	for _, kv := range kvs {
		vals = append(vals, kv.Val)
	}
	return strings.Join(vals, "\n"), nil
}

func (s *Service) setState(state string, err error) {
	s.mu.Lock()
	s.state, s.err = state, err
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	if s.cfg.OnState != nil {
		s.cfg.OnState(state, err)
	}
}

// Close closes the local listener. Stop Run first by cancelling its context.
func (s *Service) Close() error {
	if s.ln != nil {
		return s.ln.Close()
	}
	return nil
}

// Run publishes the service until ctx is done, then removes it and stops a
// launched tor. While tor cannot be started or reached, or after it died,
// Run logs the failure and tries again with exponential backoff; it returns
// only when ctx is done (nil) or when the local listener cannot be opened.
func (s *Service) Run(ctx context.Context) error {
	if _, err := s.Listen(); err != nil {
		return fmt.Errorf("onion: local listener: %w", err)
	}
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("onion: Run called twice")
	}
	s.running = true
	s.mu.Unlock()

	delay := s.cfg.RetryMin
	for {
		s.setState(StateStarting, nil)
		started := time.Now()
		published, err := s.session(ctx)
		if ctx.Err() != nil {
			break
		}
		if err == nil {
			err = errors.New("tor session ended")
		}
		if published || time.Since(started) > s.cfg.RetryMax {
			delay = s.cfg.RetryMin
		}
		s.log.Warn("onion.failed", "mode", s.cfg.Mode, "err", err, "retry_in", delay.String())
		s.setState(StateRetrying, err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		if ctx.Err() != nil {
			break
		}
		delay = min(2*delay, s.cfg.RetryMax)
	}
	s.log.Info("onion.stopped")
	s.setState(StateStopped, nil)
	return nil
}

// session gets a tor, adds the service and watches it until ctx is done
// (nil error) or tor fails. It always cleans up what it started.
func (s *Service) session(ctx context.Context) (published bool, err error) {
	// A launched tor lives as long as procCtx: it is stopped in order (remove
	// the service, HALT) before procCtx is cancelled, which kills it.
	procCtx, procCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer procCancel()

	var (
		t    *tor.Tor
		proc *torProcess
		nc   net.Conn
	)
	switch s.cfg.Mode {
	case ModeLaunch:
		t, proc, err = s.launch(procCtx)
	default:
		t, nc, err = s.attach(ctx)
	}
	if err != nil {
		return false, err
	}
	// A hung tor must not hang the start: kill it (launch) or cut the
	// connection (control) when the start takes too long.
	watchdog := time.AfterFunc(s.cfg.StartTimeout, func() {
		if nc != nil {
			nc.Close()
		}
		procCancel()
	})

	events := make(chan control.Event, 64)
	stopDrain, drainDone := make(chan struct{}), make(chan struct{})
	var pubMu sync.Mutex
	id := s.key.ServiceID()
	go func() {
		defer close(drainDone)
		for {
			select {
			case ev := <-events:
				hs, ok := ev.(*control.HSDescEvent)
				if !ok || hs.Address != id {
					continue
				}
				switch hs.Action {
				case "UPLOADED":
					pubMu.Lock()
					first := !published
					published = true
					pubMu.Unlock()
					if first {
						s.log.Info("onion.published", "address", s.key.Address())
						s.setState(StatePublished, nil)
					}
				case "FAILED":
					s.log.Debug("onion.upload_failed", "reason", hs.Reason)
				}
			case <-stopDrain:
				return
			}
		}
	}()

	var added string // the service id ADD_ONION answered (control mode), for DEL_ONION
	watchCtx, watchCancel := context.WithCancel(ctx)
	defer watchCancel()
	teardown := func() {
		watchdog.Stop()
		watchCancel()
		s.ctlMu.Lock()
		s.cur = nil
		s.ctlMu.Unlock()
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			if added != "" {
				if _, err := t.Control.SendRequest("DEL_ONION %s", added); err != nil {
					s.log.Debug("onion.remove_failed", "err", err)
				}
			}
			_ = t.Close() // launch: HALT; control: QUIT, the shared tor keeps running
		}()
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			s.log.Warn("onion.stop_slow")
			if nc != nil {
				nc.Close()
			}
			procCancel()
			<-closed
		}
		if proc != nil {
			select {
			case <-proc.done:
			case <-time.After(5 * time.Second):
				procCancel()
				<-proc.done
			}
			s.mu.Lock()
			s.pid = 0
			s.mu.Unlock()
		}
		close(stopDrain)
		<-drainDone
	}

	if err := t.Control.AddEventListener(events, control.EventCodeHSDesc); err != nil {
		teardown()
		return false, fmt.Errorf("tor SETEVENTS: %w", err)
	}
	pow := false
	switch s.cfg.Mode {
	case ModeLaunch:
		// The service is in the torrc: check that tor took it.
		if err := s.checkTorrcService(t.Control); err != nil {
			teardown()
			return false, err
		}
		pow = s.cfg.Defenses.PoW
	default:
		var got string
		got, pow, err = s.addOnion(t.Control)
		if err != nil {
			teardown()
			return false, fmt.Errorf("tor ADD_ONION: %w", err)
		}
		added = got
		if got != id {
			teardown()
			return false, fmt.Errorf("tor published %s, the key says %s", got, id)
		}
	}
	watchdog.Stop()
	if nc != nil {
		_ = nc.SetDeadline(time.Time{})
	}
	s.ctlMu.Lock()
	s.cur = t
	s.ctlMu.Unlock()
	s.log.Info("onion.added", "mode", s.cfg.Mode, "address", s.key.Address(), "pow", pow,
		"intro_dos", s.cfg.Mode == ModeLaunch && s.cfg.Defenses.IntroDoS, "circuit_ids", s.CircuitIDs())
	pubMu.Lock()
	if !published {
		s.setState(StateAnnouncing, nil)
	}
	pubMu.Unlock()

	watchErr := make(chan error, 1)
	ctl := t.Control // bine's Close sets the field to nil
	go func() { watchErr <- ctl.HandleEvents(watchCtx) }()
	var exited <-chan struct{}
	if proc != nil {
		exited = proc.done
	}
	select {
	case <-ctx.Done():
		teardown()
		return published, nil
	case err = <-watchErr:
		err = fmt.Errorf("tor control connection lost: %w", err)
	case <-exited:
		err = fmt.Errorf("tor exited: %v", proc.Wait())
	}
	teardown()
	pubMu.Lock()
	defer pubMu.Unlock()
	return published, err
}

// launch starts tor as a child process with a generated torrc.
func (s *Service) launch(procCtx context.Context) (*tor.Tor, *torProcess, error) {
	dataDir := s.cfg.DataDir()
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("tor data directory: %w", err)
	}
	// bine leaves a control-port file (and without our torrc a torrc-*)
	// behind on every start: remove the old ones.
	for _, pat := range []string{"control-port-*", "torrc-*"} {
		old, _ := filepath.Glob(filepath.Join(dataDir, pat))
		for _, f := range old {
			_ = os.Remove(f)
		}
	}
	sess := make([]byte, 16)
	if _, err := rand.Read(sess); err != nil {
		return nil, nil, err
	}
	s.sessMu.Lock()
	s.torID = sess
	s.sessMu.Unlock()
	torrc := s.cfg.TorrcPath()
	if err := writeAtomic(filepath.Dir(torrc), filepath.Base(torrc), []byte(s.torrc()), false); err != nil {
		return nil, nil, fmt.Errorf("writing torrc: %w", err)
	}
	creator := &torCreator{path: s.cfg.TorPath, out: s.torLog}
	t, err := tor.Start(procCtx, &tor.StartConf{
		ProcessCreator:  creator,
		DataDir:         dataDir,
		TorrcFile:       torrc,
		NoAutoSocksPort: true,
		EnableNetwork:   true, // the torrc decides (DisableNetwork 1 keeps tor offline)
		ExtraArgs:       []string{"--__OwningControllerProcess", strconv.Itoa(os.Getpid())},
	})
	p := creator.process()
	if err != nil {
		if p != nil {
			p.kill()
		}
		return nil, nil, fmt.Errorf("starting tor (%s): %w", s.cfg.TorPath, err)
	}
	// tor exits when this control connection closes, even if the portal is
	// killed.
	if err := t.Control.TakeOwnership(); err != nil {
		_ = t.Close()
		p.kill()
		return nil, nil, fmt.Errorf("tor TAKEOWNERSHIP: %w", err)
	}
	version := ""
	if kv, err := t.Control.GetInfo("version"); err == nil && len(kv) > 0 {
		version = kv[0].Val
	}
	s.mu.Lock()
	s.pid = p.pid()
	s.mu.Unlock()
	s.log.Info("onion.tor_started", "pid", p.pid(), "version", version, "data_dir", dataDir)
	return t, p, nil
}

// torrc returns the configuration file of a launched tor. bine adds
// DataDirectory, the control port and cookie authentication on the command
// line.
func (s *Service) torrc() string {
	var b strings.Builder
	b.WriteString("# Written by the portal before every start of tor: changes here are lost.\n")
	b.WriteString("# Put your own settings in the file named by onion.torrc_extra.\n")
	b.WriteString("SocksPort 0\n")
	// An onion service needs no GeoIP database (only country codes in
	// ExcludeNodes and the like do: set GeoIPFile in onion.torrc_extra).
	// Not loading it saves memory and startup time.
	b.WriteString("GeoIPFile \"\"\nGeoIPv6File \"\"\n")
	fmt.Fprintf(&b, "PidFile %s\n", filepath.Join(s.cfg.DataDir(), "tor.pid"))
	if s.cfg.TorrcExtra != "" {
		p, err := filepath.Abs(s.cfg.TorrcExtra)
		if err != nil {
			p = s.cfg.TorrcExtra
		}
		fmt.Fprintf(&b, "%%include %s\n", p)
	}
	// The service, after the included file: HiddenService* lines belong to
	// the HiddenServiceDir above them, so none of the operator's can attach
	// to it by accident.
	b.WriteString("# The portal's onion service (the key directory is tor's HiddenServiceDir).\n")
	fmt.Fprintf(&b, "HiddenServiceDir %s\n", s.keyDirAbs())
	fmt.Fprintf(&b, "HiddenServicePort %d %s\n", VirtualPort, s.ln.Addr().String())
	d := s.cfg.Defenses
	if d.ExportCircuitID {
		b.WriteString("HiddenServiceExportCircuitID haproxy\n")
	}
	if d.PoW {
		fmt.Fprintf(&b, "HiddenServicePoWDefensesEnabled 1\nHiddenServicePoWQueueRate %d\nHiddenServicePoWQueueBurst %d\n", d.PoWQueueRate, d.PoWQueueBurst)
	}
	if d.IntroDoS {
		fmt.Fprintf(&b, "HiddenServiceEnableIntroDoSDefense 1\nHiddenServiceEnableIntroDoSRatePerSec %d\nHiddenServiceEnableIntroDoSBurstPerSec %d\n", d.IntroDoSRate, d.IntroDoSBurst)
	}
	return b.String()
}

// keyDirAbs is the key directory as an absolute path (tor wants one).
func (s *Service) keyDirAbs() string {
	if p, err := filepath.Abs(s.cfg.KeyDir()); err == nil {
		return p
	}
	return s.cfg.KeyDir()
}

// checkTorrcService checks that a launched tor runs the service of the
// torrc: its HiddenServiceDir is the key directory.
func (s *Service) checkTorrcService(c *control.Conn) error {
	kvs, err := c.GetConf("HiddenServiceDir")
	if err != nil {
		return fmt.Errorf("tor GETCONF HiddenServiceDir: %w", err)
	}
	for _, kv := range kvs {
		if filepath.Clean(kv.Val) == s.keyDirAbs() {
			return nil
		}
	}
	return fmt.Errorf("tor does not run the service of %s (HiddenServiceDir of its torrc)", s.keyDirAbs())
}

// addOnion adds the service over the control connection (control mode),
// with ADD_ONION's proof-of-work keywords when Defenses.PoW. A tor that does
// not know them (older than 0.4.9) refuses the command as a whole: then the
// service is added without, and a warning says so. It returns the service id
// tor answered and whether proof of work was asked for.
func (s *Service) addOnion(c *control.Conn) (id string, pow bool, err error) {
	cmd := fmt.Sprintf("ADD_ONION ED25519-V3:%s Port=%d,%s", base64.StdEncoding.EncodeToString(s.key.KeyPair().PrivateKey()),
		VirtualPort, s.ln.Addr().String())
	d := s.cfg.Defenses
	resp, err := c.SendRequest("%s", cmd+powKeywords(d))
	pow = d.PoW
	if err != nil && d.PoW && UnknownKeyword(err) {
		s.log.Warn("onion.pow_unsupported", "effect", "service added without proof of work",
			"hint", "tor 0.4.9 or newer takes ADD_ONION's PoWDefensesEnabled; or configure the service in tor's torrc")
		resp, err = c.SendRequest("%s", cmd)
		pow = false
	}
	if err != nil {
		return "", false, err
	}
	for _, l := range resp.Data {
		if k, v, ok := strings.Cut(l, "="); ok && k == "ServiceID" {
			return v, pow, nil
		}
	}
	return "", false, errors.New("no ServiceID in tor's answer")
}

// powKeywords are ADD_ONION's proof-of-work keywords for d ("" without).
func powKeywords(d Defenses) string {
	if !d.PoW {
		return ""
	}
	return fmt.Sprintf(" PoWDefensesEnabled=1 PoWQueueRate=%d PoWQueueBurst=%d", d.PoWQueueRate, d.PoWQueueBurst)
}

// UnknownKeyword reports whether err is tor's refusal of a command for a
// keyword it does not know (512 "Unrecognized keyword argument").
func UnknownKeyword(err error) bool {
	var te *textproto.Error
	return errors.As(err, &te) && te.Code == 512 && strings.Contains(te.Msg, "Unrecognized keyword")
}

// attach connects and authenticates to a running tor.
func (s *Service) attach(ctx context.Context) (*tor.Tor, net.Conn, error) {
	c, nc, err := dialControl(ctx, s.cfg, s.cfg.StartTimeout)
	if err != nil {
		return nil, nil, err
	}
	s.log.Info("onion.tor_attached", "control", s.cfg.ControlAddr, "version", torVersion(c))
	// No Detach and no HALT: the service goes when this connection closes,
	// and the shared tor keeps running.
	return &tor.Tor{Control: c, StopProcessOnClose: false}, nc, nil
}

// dialControl connects and authenticates to the control port or socket of
// cfg; the connection's deadline is timeout from now.
func dialControl(ctx context.Context, cfg Config, timeout time.Duration) (*control.Conn, net.Conn, error) {
	network, addr := ControlNetwork(cfg.ControlAddr)
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to tor's control %s: %w", cfg.ControlAddr, err)
	}
	_ = nc.SetDeadline(time.Now().Add(timeout))
	c := control.NewConn(textproto.NewConn(nc))
	if err := authenticate(c, cfg.ControlPassword, cfg.CookieFile); err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("tor control authentication: %w", err)
	}
	return c, nc, nil
}

// torVersion is tor's GETINFO version ("" when it does not answer).
func torVersion(c *control.Conn) string {
	if kv, err := c.GetInfo("version"); err == nil && len(kv) > 0 {
		return kv[0].Val
	}
	return ""
}

// ControlNetwork splits a control address into a network and an address for
// net.Dial: "unix:/run/tor/control" and "/run/tor/control" are unix sockets,
// anything else is TCP host:port.
func ControlNetwork(a string) (network, addr string) {
	switch {
	case strings.HasPrefix(a, "unix:"):
		return "unix", strings.TrimPrefix(a, "unix:")
	case strings.HasPrefix(a, "/"):
		return "unix", a
	}
	return "tcp", a
}
