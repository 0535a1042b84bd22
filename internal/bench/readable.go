package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The readable copy of an export (internal/readable) in section 3: one
// fresh portal per archive size, one copy each, its peak resident size
// against the archive's size. The copy holds one day of messages at a
// time, so the peak should not grow with the archive.

// ReadableMemory is one readable copy made by a fresh portal process.
type ReadableMemory struct {
	Messages      int
	StartHWM, HWM int64 // VmHWM before and after
	Bytes         int64
	Time          time.Duration
}

// ReadableDoc is a readable copy read through the portal.
type ReadableDoc struct {
	Bytes    int64
	Messages int // <li><time …> lines of messages
	Complete bool
	Time     time.Duration
}

// ReadableHTTP posts the export form with the readable copy's button for
// local and reads the whole page, counting its messages.
func ReadableHTTP(ctx context.Context, client *http.Client, base, local, password string) (ReadableDoc, error) {
	var d ReadableDoc
	form := url.Values{"address": {local}, "password": {password}, "lang": {"en"}, "format": {"readable"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/export", strings.NewReader(form.Encode()))
	if err != nil {
		return d, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return d, err
	}
	defer resp.Body.Close()
	c := &tagCounter{tag: []byte("<li><time ")}
	_, err = io.Copy(c, resp.Body)
	d.Time = time.Since(start)
	d.Bytes, d.Messages = c.n, c.count
	if err != nil {
		return d, fmt.Errorf("readable copy: %w (after %d bytes)", err, d.Bytes)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		return d, fmt.Errorf("readable copy: status %d, %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	d.Complete = bytes.HasSuffix(bytes.TrimRight(c.tail, "\n"), []byte("</html>"))
	return d, nil
}

// CheckReadable returns an error unless d is a whole page with want
// messages.
func CheckReadable(d ReadableDoc, want int) error {
	if !d.Complete || d.Messages != want {
		return fmt.Errorf("readable copy incomplete: %d of %d messages, complete=%v, %d bytes", d.Messages, want, d.Complete, d.Bytes)
	}
	return nil
}

// tagCounter counts a tag across writes and keeps the last bytes.
type tagCounter struct {
	tag   []byte
	n     int64
	count int
	tail  []byte
}

func (c *tagCounter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	head := p[:min(len(p), len(c.tag)-1)]
	joined := append(append([]byte(nil), c.tail...), head...)
	c.count += bytes.Count(joined, c.tag) - bytes.Count(c.tail, c.tag)
	c.count += bytes.Count(p, c.tag)
	c.tail = append(c.tail, p...)
	if len(c.tail) > 64 {
		c.tail = append([]byte(nil), c.tail[len(c.tail)-64:]...)
	}
	return len(p), nil
}

// ReadableFlat reports whether the largest archive's copy peaked within
// RSSSlack of the smallest's.
func ReadableFlat(ms []ReadableMemory) bool {
	if len(ms) < 2 {
		return false
	}
	a, z := ms[0], ms[len(ms)-1]
	return a.HWM > 0 && z.HWM > 0 && z.HWM <= a.HWM+RSSSlack(a.HWM)
}

// ReadableMarkdown is the report's table of the readable copies ("" when
// none were made).
func ReadableMarkdown(ms []ReadableMemory) string {
	if len(ms) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n### The readable copy\n\n")
	b.WriteString("\"Download a readable copy\" (internal/readable): one HTML page with the messages by day and contact, streamed like the file, holding one day at a time. A fresh portal per archive size, one copy each.\n\n")
	b.WriteString("| messages | page | time | VmHWM before | VmHWM after |\n|---|---|---|---|---|\n")
	for _, m := range ms {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", num(m.Messages), MB(m.Bytes), m.Time.Round(time.Millisecond), MB(m.StartHWM), MB(m.HWM))
	}
	if ReadableFlat(ms) {
		b.WriteString("\nThe peak does not grow with the archive (within max(10 %, 3 MB)).\n")
	} else {
		b.WriteString("\nThe peak grew with the archive: see the goals.\n")
	}
	return b.String()
}
