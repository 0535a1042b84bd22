package abuse

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/xmpp-portal/portal/internal/store"
)

// epochStoreKey is where the epoch key lives in the store (under the store's
// own prefix).
const epochStoreKey = "rl:epoch"

// epochKeyLen is the size of the random epoch key in bytes.
const epochKeyLen = 32

// DefaultEpochRecheck is how often a cached epoch key is read from the store
// again, so that instances agree soon after the store lost its data.
const DefaultEpochRecheck = time.Minute

// errNoClient is returned when a request carries no usable peer address.
var errNoClient = errors.New("abuse: request has no usable client address")

// ParseTrustedProxies parses addresses and CIDR prefixes ("10.0.0.1",
// "10.0.0.0/8", "fd00::/8") into prefixes. An error names the bad entry: it is
// configuration, not a client's address.
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			p = p.Masked()
			if p.Addr().Is4In6() {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			out = append(out, p)
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("abuse: trusted proxy %q is not an address or CIDR prefix", s)
		}
		a = a.Unmap().WithZone("")
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// parseAddr reads an address as found in RemoteAddr or X-Forwarded-For:
// "192.0.2.1", "192.0.2.1:443", "2001:db8::1", "[2001:db8::1]:443".
// IPv4-mapped IPv6 addresses become IPv4; zones are dropped.
func parseAddr(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		host, _, serr := net.SplitHostPort(s)
		if serr != nil {
			host = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
		}
		if a, err = netip.ParseAddr(host); err != nil {
			return netip.Addr{}, false
		}
	}
	return a.Unmap().WithZone(""), true
}

func (l *Limiter) trusted(a netip.Addr) bool {
	for _, p := range l.trustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr returns the address r is counted under: the TCP peer, or, when
// the peer is a trusted proxy (clearnet only), the right-most address in
// X-Forwarded-For that is not a trusted proxy. The address never leaves this
// package: only its keyed hash does.
func (l *Limiter) clientAddr(r *http.Request) (netip.Addr, error) {
	peer, ok := parseAddr(r.RemoteAddr)
	if !ok {
		return netip.Addr{}, errNoClient
	}
	if len(l.trustedProxies) == 0 || l.isOnion(r) || !l.trusted(peer) {
		return peer, nil
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	cur := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseAddr(hops[i])
		if !ok {
			// Garbage right of any untrusted hop means a trusted proxy passed
			// it on: stop at the last hop we can vouch for.
			return cur, nil
		}
		if !l.trusted(a) {
			return a, nil
		}
		cur = a
	}
	return cur, nil
}

// Tags of the keyed messages: the first byte says what the rest is, so keys
// of different levels never share an input, even for the same bytes (a /64
// whose first byte is 0x38 against a /56). The client tags (4, 6) are those of
// the first release, so client keys did not change with the network budgets.
const (
	tagIPv4    = 4   // IPv4 address, 4 bytes (/32)
	tagIPv6p64 = 6   // IPv6 /64 network, 8 bytes
	tagIPv6p56 = 56  // IPv6 /56 network, 7 bytes
	tagIPv6p48 = 48  // IPv6 /48 network, 6 bytes
	tagCircuit = 128 // a Tor circuit of the onion listener, 1 to maxCircuitID bytes
)

// maxCircuitID bounds what LimiterOptions.Circuit may return.
const maxCircuitID = 64

// maskedBytes is the part of a that identifies it at prefix length bits,
// after its tag: the whole IPv4 address (bits 32), or the /64, /56 or /48
// network of an IPv6 address.
func maskedBytes(a netip.Addr, bits int) []byte {
	if a.Is4() {
		b := a.As4()
		return append([]byte{tagIPv4}, b[:]...)
	}
	b := a.As16()
	switch bits {
	case 48:
		return append([]byte{tagIPv6p48}, b[:6]...)
	case 56:
		return append([]byte{tagIPv6p56}, b[:7]...)
	}
	return append([]byte{tagIPv6p64}, b[:8]...)
}

// keyFor is HMAC-SHA256(epoch, tag + masked address), truncated to 128 bits,
// base64url without padding (22 characters).
func keyFor(epoch []byte, a netip.Addr, bits int) string {
	m := hmac.New(sha256.New, epoch)
	m.Write(maskedBytes(a, bits))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// circuitKeyFor is the key of a Tor circuit: HMAC-SHA256(epoch, tagCircuit +
// id), truncated and encoded like a client key.
func circuitKeyFor(epoch, id []byte) string {
	m := hmac.New(sha256.New, epoch)
	m.Write([]byte{tagCircuit})
	m.Write(id)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// circuitKey returns the key of the Tor circuit an onion request came over,
// with ok false when the circuit is not known (no LimiterOptions.Circuit, or
// it has no id for r, or an id out of bounds): the request is then counted on
// the shared onion budgets only.
func (l *Limiter) circuitKey(ctx context.Context, r *http.Request) (key string, ok bool, err error) {
	if l.circuit == nil {
		return "", false, nil
	}
	id, ok := l.circuit(r)
	if !ok || len(id) == 0 || len(id) > maxCircuitID {
		return "", false, nil
	}
	epoch, err := l.epochKey(ctx)
	if err != nil {
		return "", false, err
	}
	return circuitKeyFor(epoch, id), true, nil
}

// clientKeyFor is the client's own key: IPv4 /32 or IPv6 /64.
func clientKeyFor(epoch []byte, a netip.Addr) string { return keyFor(epoch, a, 64) }

// clientKeys are the keys a clearnet request is counted under: the client's
// own, and for IPv6 clients its /56 and /48 networks' (empty for IPv4).
type clientKeys struct {
	client, net56, net48 string
}

func (k clientKeys) ipv6() bool { return k.net48 != "" }

// clientKeys returns the keys of a clearnet request r (see ClientKey).
func (l *Limiter) clientKeys(ctx context.Context, r *http.Request) (clientKeys, error) {
	a, aerr := l.clientAddr(r)
	if aerr != nil {
		// A peer without an IP address (a Unix socket): count such requests
		// together rather than not at all.
		l.noClientOnce.Do(func() { l.log.Warn("abuse.no_client_address", "effect", "such requests share one budget") })
		return clientKeys{client: "unknown"}, nil
	}
	epoch, err := l.epochKey(ctx)
	if err != nil {
		return clientKeys{}, err
	}
	k := clientKeys{client: clientKeyFor(epoch, a)}
	if a.Is6() {
		k.net56, k.net48 = keyFor(epoch, a, 56), keyFor(epoch, a, 48)
	}
	return k, nil
}

// ClientKey returns the opaque key r is counted under in this epoch, derived
// from the epoch key and the client's masked address, or, over the onion
// listener, the Tor circuit's id; it is neither reversible nor linkable
// across epochs. Requests over the onion listener whose circuit is not known
// have no client key: ok is false. Store errors are returned as they are
// (fail closed).
func (l *Limiter) ClientKey(ctx context.Context, r *http.Request) (key string, ok bool, err error) {
	if l.isOnion(r) {
		return l.circuitKey(ctx, r)
	}
	k, err := l.clientKeys(ctx, r)
	if err != nil {
		return "", false, err
	}
	return k.client, true, nil
}

// epochKey returns the current epoch key: from the in-process cache while it
// is fresh, else from the store, creating it there (SetNX) when absent.
func (l *Limiter) epochKey(ctx context.Context) ([]byte, error) {
	now := l.now()
	l.mu.Lock()
	if l.epoch != nil && now.Before(l.epochUntil) {
		k := l.epoch
		l.mu.Unlock()
		return k, nil
	}
	l.mu.Unlock()

	key, ttl, err := l.loadEpochKey(ctx)
	if err != nil {
		return nil, err
	}
	recheck := min(ttl, l.epochRecheck)
	l.mu.Lock()
	l.epoch, l.epochUntil = key, now.Add(recheck)
	l.mu.Unlock()
	return key, nil
}

func (l *Limiter) loadEpochKey(ctx context.Context) ([]byte, time.Duration, error) {
	for range 3 {
		val, err := l.st.Get(ctx, epochStoreKey)
		if errors.Is(err, store.ErrNotFound) {
			fresh := make([]byte, epochKeyLen)
			if _, err := rand.Read(fresh); err != nil {
				return nil, 0, fmt.Errorf("abuse: epoch key: %w", err)
			}
			created, err := l.st.SetNX(ctx, epochStoreKey, fresh, l.epochTTL)
			if err != nil {
				return nil, 0, fmt.Errorf("abuse: epoch key: %w", err)
			}
			if created {
				l.log.Info("abuse.epoch_key_created")
				return fresh, l.epochTTL, nil
			}
			continue // another instance was first: read its key
		}
		if err != nil {
			return nil, 0, fmt.Errorf("abuse: epoch key: %w", err)
		}
		if len(val) != epochKeyLen {
			// Not ours (or damaged): replace it rather than fail for a
			// whole epoch. Instances that raced here agree at the next
			// recheck, on whichever key was written last.
			l.log.Warn("abuse.epoch_key_replaced", "reason", "wrong size")
			fresh := make([]byte, epochKeyLen)
			if _, err := rand.Read(fresh); err != nil {
				return nil, 0, fmt.Errorf("abuse: epoch key: %w", err)
			}
			if err := l.st.Set(ctx, epochStoreKey, fresh, l.epochTTL); err != nil {
				return nil, 0, fmt.Errorf("abuse: epoch key: %w", err)
			}
			return fresh, l.epochTTL, nil
		}
		ttl, err := l.st.TTL(ctx, epochStoreKey)
		if errors.Is(err, store.ErrNotFound) {
			continue // expired in between
		}
		if err != nil {
			return nil, 0, fmt.Errorf("abuse: epoch key: %w", err)
		}
		return val, ttl, nil
	}
	return nil, 0, errors.New("abuse: epoch key keeps changing in the store")
}
