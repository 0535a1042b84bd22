package onion

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"os/exec"
	"strings"
	"time"
)

// TorFeatures runs the tor executable of launch mode and reports its version
// (tor --version) and whether it was built with the pow module that proof
// of work needs (tor --list-modules: "pow: yes"; tor 0.4.8 and newer, built
// with --enable-gpl as Debian's is). Nothing is started: both commands exit
// at once. ctx bounds them.
func TorFeatures(ctx context.Context, torPath string) (version string, powModule bool, err error) {
	if torPath == "" {
		torPath = "tor"
	}
	out, err := exec.CommandContext(ctx, torPath, "--version").Output()
	if err != nil {
		return "", false, fmt.Errorf("%s --version: %w", torPath, err)
	}
	first, _, _ := strings.Cut(string(out), "\n")
	version = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(first), "Tor version "), ".")
	mods, err := exec.CommandContext(ctx, torPath, "--list-modules").Output()
	if err != nil {
		return version, false, nil // older than --list-modules (0.4.5): no pow module
	}
	for _, l := range bytes.Split(mods, []byte("\n")) {
		if strings.TrimSpace(string(l)) == "pow: yes" {
			return version, true, nil
		}
	}
	return version, false, nil
}

// Probe attaches to the tor of control mode with cfg's address and
// credentials and reports its version and whether its ADD_ONION takes the
// proof-of-work keywords (tor 0.4.9 and newer). It adds no service: it sends
// an ADD_ONION with those keywords and a key type that does not exist, which
// tor refuses for the key type (513) when it knows the keywords and for the
// keyword (512) when it does not. Whether that tor has the pow module
// cannot be seen over the control port.
func Probe(ctx context.Context, cfg Config, timeout time.Duration) (version string, powKeywords bool, err error) {
	c, nc, err := dialControl(ctx, cfg, timeout)
	if err != nil {
		return "", false, err
	}
	defer nc.Close()
	version = torVersion(c)
	_, err = c.SendRequest("ADD_ONION PORTAL-PROBE:x Port=%d,127.0.0.1:9 PoWDefensesEnabled=1 PoWQueueRate=1 PoWQueueBurst=1", VirtualPort)
	var te *textproto.Error
	switch {
	case err == nil:
		return version, false, errors.New("tor accepted ADD_ONION with a key type that does not exist")
	case UnknownKeyword(err):
		return version, false, nil
	case errors.As(err, &te):
		return version, true, nil // refused for the key type: the keywords are known
	}
	return version, false, fmt.Errorf("tor ADD_ONION: %w", err)
}
