package qrsvg

import (
	"bytes"
	"encoding/xml"
	"html/template"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"rsc.io/qr"
)

const svgNS = "http://www.w3.org/2000/svg"

// parsed is what the tests need from the SVG.
type parsed struct {
	root  xml.StartElement
	title string
	paths []string // d attributes
	rects int
	elems []string
}

func parse(t *testing.T, svg template.HTML) parsed {
	t.Helper()
	var p parsed
	dec := xml.NewDecoder(strings.NewReader(string(svg)))
	dec.Strict = true
	var inTitle bool
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("output is not well-formed XML: %v\n%s", err, svg)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if p.root.Name.Local == "" {
				p.root = tok.Copy()
			}
			p.elems = append(p.elems, tok.Name.Local)
			if tok.Name.Space != svgNS {
				t.Errorf("element %s is not in the SVG namespace", tok.Name.Local)
			}
			switch tok.Name.Local {
			case "path":
				p.paths = append(p.paths, attr(tok, "d"))
			case "rect":
				p.rects++
			case "title":
				inTitle = true
			}
		case xml.EndElement:
			inTitle = false
		case xml.CharData:
			if inTitle {
				p.title += string(tok)
			}
		}
	}
	return p
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

var runRE = regexp.MustCompile(`M(\d+) (\d+)h(\d+)v1h-(\d+)z`)

// decodePath turns the path back into a module matrix of n×n.
func decodePath(t *testing.T, d string, n int) [][]bool {
	t.Helper()
	if rest := runRE.ReplaceAllString(d, ""); rest != "" {
		t.Fatalf("path has unexpected commands: %.80q", rest)
	}
	m := make([][]bool, n)
	for i := range m {
		m[i] = make([]bool, n)
	}
	for _, r := range runRE.FindAllStringSubmatch(d, -1) {
		x, _ := strconv.Atoi(r[1])
		y, _ := strconv.Atoi(r[2])
		w, _ := strconv.Atoi(r[3])
		if r[3] != r[4] || w < 1 || x+w > n || y >= n {
			t.Fatalf("bad run %q in a %d×%d image", r[0], n, n)
		}
		for i := x; i < x+w; i++ {
			if m[y][i] {
				t.Fatalf("module (%d,%d) drawn twice", i, y)
			}
			m[y][i] = true
		}
	}
	return m
}

func TestSVG(t *testing.T) {
	tests := []struct {
		name, text string
		size       int
	}{
		{"xmpp uri", "xmpp:alice@example.org", 256},
		{"numeric", "0123456789", 128},
		{"alphanumeric", "HELLO WORLD", 0},
		{"unicode", "xmpp:jürgen@exämple.org?message;body=grüße", 300},
		{"long", "xmpp:" + strings.Repeat("a", 300) + "@example.org", 512},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svg, err := SVG(tc.text, tc.size, "QR code")
			if err != nil {
				t.Fatal(err)
			}
			s := string(svg)
			if strings.Contains(strings.ToLower(s), "script") {
				t.Error("output mentions script")
			}
			if strings.Count(s, "http") != 1 || !strings.Contains(s, `xmlns="`+svgNS+`"`) {
				t.Error(`"http" appears other than in the SVG namespace`)
			}
			for _, bad := range []string{"href", "url(", "style", "<image", "<foreignObject", "on"} {
				if bad == "on" {
					if regexp.MustCompile(`\son\w+=`).MatchString(s) {
						t.Error("output has an event handler attribute")
					}
					continue
				}
				if strings.Contains(s, bad) {
					t.Errorf("output contains %q", bad)
				}
			}

			p := parse(t, svg)
			if p.root.Name.Local != "svg" || len(p.paths) != 1 || p.rects != 1 {
				t.Fatalf("want <svg> with one rect and one path, got elements %v", p.elems)
			}
			want := map[string]string{"role": "img", "aria-label": "QR code", "shape-rendering": "crispEdges"}
			if tc.size > 0 {
				want["width"] = strconv.Itoa(tc.size)
				want["height"] = strconv.Itoa(tc.size)
			}
			for k, v := range want {
				if got := attr(p.root, k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if tc.size == 0 && (attr(p.root, "width") != "" || attr(p.root, "height") != "") {
				t.Error("size 0 must leave width and height out")
			}

			code, err := qr.Encode(tc.text, qr.M)
			if err != nil {
				t.Fatal(err)
			}
			n := code.Size + 2*QuietZone
			if vb := attr(p.root, "viewBox"); vb != "0 0 "+strconv.Itoa(n)+" "+strconv.Itoa(n) {
				t.Errorf("viewBox = %q, want a %d-module square", vb, n)
			}
			m := decodePath(t, p.paths[0], n)
			for y := range n {
				for x := range n {
					want := code.Black(x-QuietZone, y-QuietZone) // false in the quiet zone
					if m[y][x] != want {
						t.Fatalf("module (%d,%d) = %v, want %v", x, y, m[y][x], want)
					}
				}
			}
		})
	}
}

func TestSVGLabelEscaped(t *testing.T) {
	label := `Scan "me" & <script>alert(1)</script>`
	svg, err := SVG("xmpp:a@example.org", 100, label)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(svg), "<script") {
		t.Fatal("label was not escaped")
	}
	p := parse(t, svg)
	if got := attr(p.root, "aria-label"); got != label {
		t.Errorf("aria-label = %q, want %q", got, label)
	}
	if p.title != label {
		t.Errorf("title = %q, want %q", p.title, label)
	}
}

func TestSVGErrors(t *testing.T) {
	if _, err := SVG("x", -1, ""); err == nil {
		t.Error("negative size accepted")
	}
	if _, err := SVG("", 10, ""); err == nil {
		t.Error("empty text accepted")
	}
	if _, err := SVG(strings.Repeat("x", 5000), 10, ""); err == nil {
		t.Error("text beyond QR capacity accepted")
	}
}

// TestSVGInTemplate checks that html/template inlines the image as markup.
func TestSVGInTemplate(t *testing.T) {
	svg, err := SVG("xmpp:a@example.org", 200, "QR")
	if err != nil {
		t.Fatal(err)
	}
	tmpl := template.Must(template.New("p").Parse(`<figure>{{.}}</figure>`))
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, svg); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "<figure><svg ") {
		t.Errorf("template escaped the SVG: %.60s", buf.String())
	}
}

func TestSVGCompact(t *testing.T) {
	svg, err := SVG("xmpp:alice@example.org", 256, "QR code")
	if err != nil {
		t.Fatal(err)
	}
	if len(svg) > 8000 {
		t.Errorf("SVG for a short URI is %d bytes, want it compact", len(svg))
	}
	t.Logf("%d bytes", len(svg))
}

func BenchmarkSVG(b *testing.B) {
	for b.Loop() {
		if _, err := SVG("xmpp:alice@example.org?roster;name=Alice", 256, "QR code"); err != nil {
			b.Fatal(err)
		}
	}
}
