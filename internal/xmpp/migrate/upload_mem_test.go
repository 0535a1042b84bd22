package migrate

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/xmpp-portal/portal/internal/testenv"
)

// repeatReader yields head, then item n times, then tail, without holding
// more than one copy of each: a file of any size for the cost of one item.
type repeatReader struct {
	parts []string
	reps  []int
	i     int
	off   int
}

func newRepeat(head, item string, n int, tail string) *repeatReader {
	return &repeatReader{parts: []string{head, item, tail}, reps: []int{1, n, 1}}
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if r.i >= len(r.parts) {
			if n == 0 {
				return 0, io.EOF
			}
			return n, nil
		}
		if r.reps[r.i] == 0 {
			r.i++
			continue
		}
		c := copy(p[n:], r.parts[r.i][r.off:])
		n += c
		r.off += c
		if r.off == len(r.parts[r.i]) {
			r.off = 0
			r.reps[r.i]--
		}
	}
	return n, nil
}

// hostileUploads are files of about 50 MB built to make a parser keep much:
// each must either be refused early or read with memory that does not grow
// with the file.
var hostileUploads = []struct {
	name             string
	head, item, tail string
	wantErr          bool
	n                int // items; 0: as many as make 50 MB
}{
	// Within every limit, and as much as they let a file keep: 29,000
	// elements with 500 bytes of text each (58,000 of 60,000 nodes, 14.5 of
	// 16 MB).
	{"the most a file may keep", `<server-data xmlns="urn:xmpp:pie:0"><host jid="h.example"><user name="u"><vCard xmlns="vcard-temp">`, `<X>` + strings.Repeat("a", 500) + `</X>`, `</vCard></user></host></server-data>`, false, 29_000},
	{"tiny elements in a vCard", `<server-data xmlns="urn:xmpp:pie:0"><host jid="h.example"><user name="u"><vCard xmlns="vcard-temp">`, `<X/>`, `</vCard></user></host></server-data>`, true, 0},
	{"a million contacts", `<server-data xmlns="urn:xmpp:pie:0"><host jid="h.example"><user name="u"><query xmlns="jabber:iq:roster">`, `<item jid="c@d.example" name="x"/>`, `</query></user></host></server-data>`, true, 0},
	{"private XML of small elements", `<server-data xmlns="urn:xmpp:pie:0"><host jid="h.example"><user name="u"><query xmlns="jabber:iq:private"><s xmlns="urn:s">`, `<a b="c"/>`, `</s></query></user></host></server-data>`, true, 0},
	{"text cut by comments", `<server-data xmlns="urn:xmpp:pie:0"><host jid="h.example"><user name="u"><vCard xmlns="vcard-temp"><NOTE>`, `x<!---->`, `</NOTE></vCard></user></host></server-data>`, true, 0},
	{"an archive of 50 MB", `<server-data xmlns="urn:xmpp:pie:0"><host jid="h.example"><user name="u"><archive xmlns="urn:xmpp:pie:0#mam">`,
		`<result xmlns="urn:xmpp:mam:2" id="1"><forwarded xmlns="urn:xmpp:forward:0"><delay xmlns="urn:xmpp:delay" stamp="2020-01-01T00:00:00Z"/><message xmlns="jabber:client" from="a@b" to="c@d"><body>hello there</body></message></forwarded></result>`,
		`</archive></user></host></server-data>`, false, 0},
	{"a host of users", `<server-data xmlns="urn:xmpp:pie:0"><host jid="h.example">`, `<user name="someone"><query xmlns="jabber:iq:roster"><item jid="c@d.example"/></query></user>`, `</host></server-data>`, true, 0},
	{"one deep archive result", `<server-data xmlns="urn:xmpp:pie:0"><host jid="h.example"><user name="u"><archive xmlns="urn:xmpp:pie:0#mam"><result xmlns="urn:xmpp:mam:2" id="1"><forwarded xmlns="urn:xmpp:forward:0">`, `<x y="z"/>`, `</forwarded></result></archive></user></host></server-data>`, true, 0},
}

// uploadBytes is the size of each hostile file.
const uploadBytes = 50 << 20

// maxUploadRSS is the peak resident memory a process may reach while
// reading one of them (the hardening issue's figure).
const maxUploadRSS = 64 << 20

// TestUploadMemoryIsBounded reads each hostile 50 MB upload through
// ReadUpload with the default limits in a fresh process and checks that
// process's peak resident memory (VmHWM) stays under 64 MB. Memory, not
// time, is asserted: the figure does not depend on how busy the machine is.
//
// The child is this package's test binary without the race detector: the
// running one, or under -race one built with go test -c (the detector's
// shadow memory would be measured too, and the portal does not run with
// it). The children run in parallel: each measures its own peak.
func TestUploadMemoryIsBounded(t *testing.T) {
	if shape := os.Getenv("PORTAL_UPLOAD_SHAPE"); shape != "" {
		uploadChild(shape)
		return
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc (Linux) to read the peak memory")
	}
	child := os.Args[0]
	if raceEnabled {
		child = filepath.Join(t.TempDir(), "migrate.test")
		build := exec.Command("go", "test", "-c", "-o", child, ".")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building the child without -race: %v\n%s", err, out)
		}
	}
	for i, h := range hostileUploads {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(child, "-test.run=^TestUploadMemoryIsBounded$", "-test.count=1")
			cmd.Env = append(os.Environ(), "PORTAL_UPLOAD_SHAPE="+strconv.Itoa(i))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			var hwm, read int64
			var result string
			for _, line := range strings.Split(string(out), "\n") {
				if rest, ok := strings.CutPrefix(line, "upload: "); ok {
					fmt.Sscanf(rest, "hwm_kb=%d read=%d", &hwm, &read)
					_, result, _ = strings.Cut(rest, "result=")
				}
			}
			if hwm == 0 {
				t.Fatalf("child printed no figure:\n%s", out)
			}
			t.Logf("%s: peak RSS %.1f MB, %.1f MB read, %s", h.name, float64(hwm)/1024, float64(read)/(1<<20), result)
			if hwm*1024 > maxUploadRSS {
				t.Errorf("peak RSS %.1f MB, want under %d MB", float64(hwm)/1024, maxUploadRSS>>20)
			}
			if refused := result != "ok"; refused != h.wantErr {
				t.Errorf("result %q, want refused=%v", result, h.wantErr)
			}
		})
	}
}

func uploadChild(shape string) {
	i, _ := strconv.Atoi(shape)
	h := hostileUploads[i]
	n := h.n
	if n == 0 {
		n = (uploadBytes - len(h.head) - len(h.tail)) / len(h.item)
	}
	cr := &testenv.CountingReader{R: newRepeat(h.head, h.item, n, h.tail)}
	s := &Service{MaxImportBytes: uploadBytes + 1<<20}
	_, err := s.ReadUpload(bufio.NewReaderSize(cr, 32<<10), func(name string) bool { return name == "u" })
	result := "ok"
	var le *LimitError
	switch {
	case errors.As(err, &le):
		result = "limit " + le.Kind
	case err != nil:
		result = "refused: " + err.Error()
	}
	fmt.Printf("upload: hwm_kb=%d read=%d result=%s\n", peakKB(), cr.N, result)
}

// peakKB reads this process's peak resident set size from /proc.
func peakKB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			v, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return v
		}
	}
	return -1
}
