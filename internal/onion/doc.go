// Package onion publishes the portal as a Tor v3 onion service with bine.
//
// A Service gets a tor in one of two modes: ModeLaunch starts tor as a child
// process (data directory and torrc under the state directory, owned by the
// portal through TAKEOWNERSHIP so it dies with it) with the service in the
// torrc it writes (HiddenServiceDir: the key directory), ModeControl
// attaches to a running tor through its ControlPort or ControlSocket with
// cookie or password authentication and adds the service with ADD_ONION
// (it disappears when the connection closes; the shared tor is never
// stopped).
//
// Tor's own defences (Defenses): proof of work when the service is under
// load, in both modes (control mode: tor 0.4.9 and newer, else the service
// is added without, with a warning); the introduction points' rate limit
// and circuit ids (a PROXY protocol header on every connection, see
// CircuitIDs and internal/proxyhdr) in launch mode only, since ADD_ONION has
// no keywords for them. Probe and TorFeatures tell portal -check what a tor
// can do.
//
// The service key is generated on first use and kept in tor's own
// HiddenServiceDir format (hs_ed25519_secret_key, hs_ed25519_public_key,
// hostname; directory 0700, files 0600, written atomically), so the address
// is the same after every restart and can be computed without tor (LoadKey).
// A key file readable by group or others is refused. The key is the
// address: back it up.
//
// Tor's connections arrive on one local listener on 127.0.0.1 (Listen) that
// stays the same across tor restarts; the caller serves HTTP on it, and
// reads the circuit headers there when CircuitIDs. Run never
// gives up: when tor cannot be started or reached, or dies, it logs the
// failure, reports StateRetrying and tries again with exponential backoff.
package onion
