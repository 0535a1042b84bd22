package abuse_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/xmpp-portal/portal/internal/abuse"
)

// addressForms are the ways an address, or the network prefixes it is counted
// under, could be written down: text, raw bytes (with and without the tag
// byte the keys hash), hex, decimal (IPv4), base64.
func addressForms(ip string) map[string][]byte {
	a := netip.MustParseAddr(ip)
	forms := map[string][]byte{"text": []byte(a.String()), "expanded": []byte(a.StringExpanded())}
	add := func(name string, raw []byte) {
		forms[name+" raw"] = raw
		forms[name+" hex"] = fmt.Appendf(nil, "%x", raw)
		forms[name+" HEX"] = fmt.Appendf(nil, "%X", raw)
		forms[name+" base64"] = []byte(base64.RawStdEncoding.EncodeToString(raw))
		forms[name+" base64url"] = []byte(base64.RawURLEncoding.EncodeToString(raw))
	}
	if a.Is4() {
		b := a.As4()
		add("/32", b[:])
		add("tagged /32", append([]byte{4}, b[:]...))
		forms["decimal"] = []byte(strconv.FormatUint(uint64(binary.BigEndian.Uint32(b[:])), 10))
		forms["mapped"] = []byte("::ffff:" + ip)
		return forms
	}
	b := a.As16()
	add("/128", b[:])
	for _, p := range []struct {
		bits int
		tag  byte
	}{{64, 6}, {56, 56}, {48, 48}} {
		n := p.bits / 8
		add(fmt.Sprintf("/%d", p.bits), b[:n])
		add(fmt.Sprintf("tagged /%d", p.bits), append([]byte{p.tag}, b[:n]...))
		pfx := netip.PrefixFrom(a, p.bits).Masked()
		forms[fmt.Sprintf("/%d text", p.bits)] = []byte(pfx.String())
		// The prefix as typed: "2001:db8:abcd:ef12" for the /64.
		txt := pfx.Addr().StringExpanded()[:p.bits/16*5-1]
		forms[fmt.Sprintf("/%d hextets", p.bits)] = []byte(txt)
	}
	return forms
}

// TestStoreHoldsNoAddress: after sign-ups, captchas and password checks of an
// IPv4 and an IPv6 client, with refusals at the client, /56 and /48 budgets
// and releases, no store key or value and no log line holds either address or
// the /64, /56 or /48 network of the IPv6 one, in any form.
func TestStoreHoldsNoAddress(t *testing.T) {
	ctx := context.Background()
	f := newLimStore(t, 0)
	b := netBudgets()
	l := f.limiter(t, abuse.LimiterOptions{Budgets: b})
	const v4, v6addr = "203.0.113.77", "2001:db8:abcd:ef12:3456:789a:bcde:f012"
	clients := []string{v4, v6addr, "2001:db8:abcd:ef12::9", "2001:db8:abcd:ef13::9", "2001:db8:abcd:e012::9"}
	refusals := map[int]int{}
	for round := range 8 {
		for _, ip := range clients {
			for _, a := range []abuse.Action{abuse.Signup, abuse.Captcha, abuse.Credential} {
				d := mustAllow(t, l, lreq(ip), a)
				if !d.Allowed {
					refusals[d.Prefix]++
				}
				d.ReleaseShared(ctx)
				if round%2 == 0 {
					d.Release(ctx)
				}
			}
		}
		f.clk.Advance(time.Second)
	}
	if refusals[0] == 0 || refusals[56] == 0 || refusals[48] == 0 {
		t.Fatalf("refusals by prefix %v: the flow must hit the client, /56 and /48 budgets", refusals)
	}
	var dump bytes.Buffer
	n, nets := 0, 0
	f.st.ForEach(func(k string, v []byte, _ time.Duration) {
		n++
		if bytes.Contains([]byte(k), []byte("/48:")) || bytes.Contains([]byte(k), []byte("/56:")) {
			nets++
		}
		fmt.Fprintf(&dump, "%s\x00%s\x00", k, v)
	})
	if nets == 0 || n < 10 {
		t.Fatalf("%d keys, %d of networks: the scan would prove nothing", n, nets)
	}
	for where, data := range map[string][]byte{"store": dump.Bytes(), "log": []byte(f.logs.String())} {
		for _, found := range findAddress(data, v4, v6addr) {
			t.Errorf("%s holds %s", where, found)
		}
	}
}

// findAddress names the forms of the addresses ips found in data (text forms
// case-insensitively).
func findAddress(data []byte, ips ...string) []string {
	var found []string
	lower := bytes.ToLower(data)
	for _, ip := range ips {
		for name, form := range addressForms(ip) {
			if bytes.Contains(data, form) || bytes.Contains(lower, bytes.ToLower(form)) {
				found = append(found, ip+" as "+name)
			}
		}
	}
	return found
}

// TestAddressScanFindsAddresses: the scan finds every form inside text and
// binary data, and not in a key that only looks like one.
func TestAddressScanFindsAddresses(t *testing.T) {
	for _, ip := range []string{"203.0.113.77", "2001:db8:abcd:ef12:3456:789a:bcde:f012"} {
		forms := addressForms(ip)
		if len(forms) < 8 {
			t.Fatalf("%d forms of %s", len(forms), ip)
		}
		for name, form := range forms {
			data := append(append([]byte("rl:x:\x00\xff"), bytes.ToUpper(form)...), "Tail"...)
			if len(findAddress(data, ip)) == 0 {
				t.Errorf("%s as %s not found", ip, name)
			}
		}
	}
	if got := string(addressForms("2001:db8:abcd:ef12::1")["/48 hextets"]); got != "2001:0db8:abcd" {
		t.Errorf("/48 hextets %q", got)
	}
	if f := findAddress([]byte("rl:captcha/48:AbCdEf0123456789_-xyzA\x001"), "203.0.113.77", "2001:db8:abcd:ef12::1"); len(f) != 0 {
		t.Errorf("false positive: %v", f)
	}
}
