package abuse

import (
	"bytes"
	"net/netip"
	"testing"
)

// TestNetworkKeysAreTagged: the keyed message of each level starts with its
// own tag, so a /56 or /48 key never equals a /64 key of the same bytes, and
// only the bits of the level enter it.
func TestNetworkKeysAreTagged(t *testing.T) {
	epoch := bytes.Repeat([]byte{7}, epochKeyLen)
	// 2001:db8:1::/48, its first /56 and its first /64 have the same bytes.
	a := netip.MustParseAddr("2001:db8:1::1")
	keys := map[string]int{}
	for _, bits := range []int{64, 56, 48} {
		keys[keyFor(epoch, a, bits)] = bits
	}
	if len(keys) != 3 {
		t.Fatalf("keys of /64, /56 and /48 of the same bytes collide: %v", keys)
	}
	// A /64 whose eight bytes are the /56 message of a (tag 56 = 0x38, then
	// a's seven bytes): with the tag in front, the messages still differ.
	b := netip.MustParseAddr("3820:10d:b800:100::1")
	if !bytes.Equal(maskedBytes(b, 64)[1:], maskedBytes(a, 56)) {
		t.Fatalf("test address wrong: %x vs %x", maskedBytes(b, 64), maskedBytes(a, 56))
	}
	if bytes.Equal(maskedBytes(b, 64), maskedBytes(a, 56)) || keyFor(epoch, b, 64) == keyFor(epoch, a, 56) {
		t.Errorf("/64 of %s and /56 of %s share a key", b, a)
	}
	tests := []struct {
		x, y string
		bits int
		same bool
	}{
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9", 64, true},
		{"2001:db8:1:2::1", "2001:db8:1:3::1", 64, false},
		{"2001:db8:1:200::1", "2001:db8:1:2ff:1::1", 56, true},
		{"2001:db8:1:200::1", "2001:db8:1:300::1", 56, false},
		{"2001:db8:1::1", "2001:db8:1:ffff:ffff::1", 48, true},
		{"2001:db8:1::1", "2001:db8:2::1", 48, false},
		{"192.0.2.1", "192.0.2.1", 48, true}, // IPv4 is /32 whatever is asked
		{"192.0.2.1", "192.0.2.2", 48, false},
	}
	for _, tc := range tests {
		x, y := netip.MustParseAddr(tc.x), netip.MustParseAddr(tc.y)
		if got := keyFor(epoch, x, tc.bits) == keyFor(epoch, y, tc.bits); got != tc.same {
			t.Errorf("/%d keys of %s and %s equal: %v, want %v", tc.bits, tc.x, tc.y, got, tc.same)
		}
	}
	if keyFor(epoch, a, 64) != clientKeyFor(epoch, a) {
		t.Error("the client key is not the /64 key")
	}
}

// TestCircuitKeysAreTagged: a Tor circuit's key is keyed with its own tag,
// so an id whose bytes are an IPv4 address (or an IPv6 network) never shares
// a key with that address.
func TestCircuitKeysAreTagged(t *testing.T) {
	epoch := bytes.Repeat([]byte{7}, epochKeyLen)
	a := netip.MustParseAddr("192.0.2.1")
	if circuitKeyFor(epoch, a.AsSlice()) == keyFor(epoch, a, 64) {
		t.Error("circuit id with an IPv4 address's bytes has the address's key")
	}
	v6 := netip.MustParseAddr("2001:db8:1:2::1")
	for _, bits := range []int{48, 56, 64} {
		if circuitKeyFor(epoch, maskedBytes(v6, bits)[1:]) == keyFor(epoch, v6, bits) {
			t.Errorf("circuit id with the bytes of a /%d has its key", bits)
		}
	}
	if circuitKeyFor(epoch, []byte{1, 2}) == circuitKeyFor(epoch, []byte{1, 3}) {
		t.Error("two circuits share a key")
	}
}
