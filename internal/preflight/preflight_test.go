package preflight

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"

	"github.com/xmpp-portal/portal/internal/testenv"
	"github.com/xmpp-portal/portal/internal/xmpp"
)

func TestClassifyRegistration(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want regAnswer
		cond string
	}{
		{"form offered", nil, regOpen, ""},
		{"prosody allow_registration=false", &xmpp.Error{Kind: xmpp.StanzaKind("service-unavailable", ""), Condition: "service-unavailable"}, regClosed, "service-unavailable"},
		{"ejabberd access deny", &xmpp.Error{Kind: xmpp.StanzaKind("forbidden", ""), Condition: "forbidden", Text: "Access denied by service policy"}, regClosed, "forbidden"},
		{"not-allowed", &xmpp.Error{Kind: xmpp.StanzaKind("not-allowed", ""), Condition: "not-allowed"}, regClosed, "not-allowed"},
		{"name exists: got past the access check", &xmpp.Error{Kind: xmpp.StanzaKind("conflict", ""), Condition: "conflict"}, regOpen, "conflict"},
		{"ejabberd throttle: past access", &xmpp.Error{Kind: xmpp.StanzaKind("resource-constraint", ""), Condition: "resource-constraint"}, regOpen, "resource-constraint"},
		{"prosody invite only", &xmpp.Error{Kind: xmpp.StanzaKind("not-acceptable", "Registration on this server is through invitation only"), Condition: "not-acceptable",
			Text: "Registration on this server is through invitation only"}, regClosed, "invite only"},
		{"not-acceptable otherwise: past the access check", &xmpp.Error{Kind: xmpp.StanzaKind("not-acceptable", ""), Condition: "not-acceptable"}, regOpen, "not-acceptable"},
		{"connection lost", &xmpp.Error{Kind: xmpp.Unavailable, Op: "receive", Err: errors.New("EOF")}, regUnknown, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, cond := classifyRegistration(tc.err)
			if got != tc.want || cond != tc.cond {
				t.Errorf("classifyRegistration = %v, %q; want %v, %q", got, cond, tc.want, tc.cond)
			}
		})
	}
}

type pinger struct{ err error }

func (p pinger) Ping(context.Context) error { return p.err }

func TestReportWriteAndLog(t *testing.T) {
	r := Report{
		{Check: CheckStore, Status: OK, Message: "the memory store answers"},
		{Check: CheckRegistration, Status: Warn, Message: LoudOpenRegistration + " on x", Hint: "close it\nnow"},
		{Check: CheckAdminLogin, Status: Fail, Message: "refused", Err: errors.New("not-authorized")},
		{Check: CheckAdminCommands, Status: Skipped, Message: "not checked"},
	}
	if !r.Failed() || r.Count(Warn) != 1 || r.Count(Fail) != 1 {
		t.Fatalf("Failed %v, warnings %d, fails %d", r.Failed(), r.Count(Warn), r.Count(Fail))
	}
	var b bytes.Buffer
	if err := r.Write(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ok    store", "WARN  xmpp.registration", "FAIL  xmpp.admin_login", "skip  xmpp.admin_commands",
		"error: not-authorized", "close it\n", "now\n", "result: 1 failed, 1 warning(s)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
	var lb bytes.Buffer
	r.Log(context.Background(), slog.New(slog.NewTextHandler(&lb, nil)))
	for _, want := range []string{"level=WARN msg=preflight.warning check=xmpp.registration", "level=ERROR msg=preflight.failed check=xmpp.admin_login",
		"msg=preflight.done failed=1 warnings=1"} {
		if !strings.Contains(lb.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, lb.String())
		}
	}
	ok := Report{{Check: CheckStore, Status: OK}, {Check: CheckConnect, Status: OK}}
	b.Reset()
	_ = ok.Write(&b)
	if ok.Failed() || !strings.HasSuffix(b.String(), "result: ok\n") {
		t.Errorf("all-ok report: failed=%v\n%s", ok.Failed(), b.String())
	}
}

// TestRunUnreachable: nothing listens on the port; the store is down too.
func TestRunUnreachable(t *testing.T) {
	addr := testenv.ClosedAddr(t)
	r := Run(context.Background(), Config{
		XMPP: xmpp.Config{Domain: "localhost", Addr: addr}, Mode: "admin",
		AdminJID: jid.MustParse("portal@localhost"), AdminPassword: "x",
		Store: pinger{errors.New("connection refused")}, StoreDriver: "redis",
	})
	want := map[string]Status{CheckStore: Fail, CheckConnect: Fail, CheckAdminLogin: Skipped, CheckAdminCommands: Skipped, CheckInvites: Skipped, CheckRegistration: Skipped}
	for check, st := range want {
		got, ok := r.Find(check)
		if !ok || got.Status != st {
			t.Errorf("%s: %v (found %v), want %v", check, got.Status, ok, st)
		}
	}
	c, _ := r.Find(CheckConnect)
	if !strings.Contains(c.Message, "cannot connect to the XMPP server at "+addr) || !strings.Contains(c.Hint, "xmpp.addr") {
		t.Errorf("connect result: %+v", c)
	}
	s, _ := r.Find(CheckStore)
	if !strings.Contains(s.Message, "redis store does not answer") {
		t.Errorf("store result: %+v", s)
	}
}

// TestRunTalksToAStranger: the port answers, but not with XMPP.
func TestRunTalksToAStranger(t *testing.T) {
	addr := testenv.TCPServer(t, func(c net.Conn) { fmt.Fprint(c, "HTTP/1.1 400 Bad Request\r\n\r\n") })
	r := Run(context.Background(), Config{XMPP: xmpp.Config{Domain: "localhost", Addr: addr}, Mode: "ibr"})
	c, _ := r.Find(CheckConnect)
	if c.Status != Fail {
		t.Fatalf("connect: %+v", c)
	}
	if !r.Failed() {
		t.Error("report does not fail")
	}
}
