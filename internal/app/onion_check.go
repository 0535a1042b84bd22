package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/xmpp-portal/portal/internal/config"
	"github.com/xmpp-portal/portal/internal/onion"
	"github.com/xmpp-portal/portal/internal/preflight"
)

// CheckOnionDefenses names portal -check's line on the onion service's
// defences.
const CheckOnionDefenses = "onion.defenses"

// onionCheckTimeout bounds what the check asks of tor (two commands of the
// tor executable, or a control connection with three commands).
const onionCheckTimeout = 15 * time.Second

// onionDefensesCheck says which of tor's own defences the onion service gets
// (portal -check, with onion.enabled): proof of work, the introduction rate
// limit, a budget per Tor circuit. In launch mode it asks the tor
// executable whether it has the pow module; in control mode it asks the
// running tor whether its ADD_ONION takes the proof-of-work keywords
// (onion.Probe; no service is added). Proof of work off, or not possible
// with this tor, is a warning: the service runs, without that defence.
func onionDefensesCheck(ctx context.Context, cfg *config.Config) preflight.Result {
	ctx, cancel := context.WithTimeout(ctx, onionCheckTimeout)
	defer cancel()
	o := cfg.Onion
	r := preflight.Result{Check: CheckOnionDefenses, Status: preflight.OK}
	var parts, hints []string
	powOn := func() string {
		return fmt.Sprintf("proof of work on (queue %d/s, burst %d)", o.PoWQueueRate, o.PoWQueueBurst)
	}
	switch o.Mode {
	case "control":
		version, keywords, err := onion.Probe(ctx, onion.Config{ControlAddr: o.ControlAddr, ControlPassword: o.ControlPassword, CookieFile: o.CookieFile}, onionCheckTimeout)
		if err != nil {
			r.Status, r.Message, r.Err = preflight.Warn, "control mode: tor's control "+o.ControlAddr+" cannot be asked; the service waits for it", err
			return r
		}
		parts = append(parts, "control mode, tor "+version)
		switch {
		case !o.PoW:
			r.Status = preflight.Warn
			parts = append(parts, "proof of work off (onion.pow false)")
			hints = append(hints, "set onion.pow true: Tor Browser solves the puzzle by itself, and only while the service is under load")
		case keywords:
			parts = append(parts, powOn()+" with ADD_ONION")
			hints = append(hints, "proof of work needs tor's pow module, which the control port does not show: tor --list-modules on tor's host must say pow: yes")
		default:
			r.Status = preflight.Warn
			parts = append(parts, "no proof of work: this tor's ADD_ONION does not take PoWDefensesEnabled (0.4.9 and newer do)")
			hints = append(hints, "upgrade tor, or configure the service in tor's own torrc (HiddenServicePoWDefensesEnabled 1) and run the portal in launch mode")
		}
		parts = append(parts, "no introduction rate limit and no budget per Tor circuit (ADD_ONION has neither): onion visitors share the onion budgets")
	default:
		version, powModule, err := onion.TorFeatures(ctx, o.TorPath)
		if err != nil {
			r.Status, r.Message, r.Err = preflight.Warn, "launch mode: tor cannot be run ("+o.TorPath+"); the service waits for it", err
			return r
		}
		parts = append(parts, "launch mode, tor "+version)
		switch {
		case !o.PoW:
			r.Status = preflight.Warn
			parts = append(parts, "proof of work off (onion.pow false)")
			hints = append(hints, "set onion.pow true: Tor Browser solves the puzzle by itself, and only while the service is under load")
		case powModule:
			parts = append(parts, powOn())
		default:
			r.Status = preflight.Warn
			parts = append(parts, "no proof of work: tor "+version+" was built without the pow module (tor --list-modules)")
			hints = append(hints, "install a tor with the pow module (0.4.8 or newer built with --enable-gpl, as Debian's)")
		}
		if o.IntroDoS {
			parts = append(parts, fmt.Sprintf("introduction rate limit on (%d/s, burst %d per introduction point)", o.IntroDoSRate, o.IntroDoSBurst))
		} else {
			parts = append(parts, "introduction rate limit off (onion.intro_dos false)")
		}
		if cfg.OnionCircuits() {
			parts = append(parts, fmt.Sprintf("a budget per Tor circuit (HiddenServiceExportCircuitID haproxy; %d new circuit counters a minute)", cfg.Abuse.OnionCircuitsPerMinute))
		} else {
			parts = append(parts, "no budget per Tor circuit (onion.export_circuit_id false): onion visitors share the onion budgets")
		}
	}
	r.Message = strings.Join(parts, "; ")
	r.Hint = strings.Join(hints, "\n")
	return r
}
