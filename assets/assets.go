package assets

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var files embed.FS

// Asset is one embedded file with its content-hashed URL.
type Asset struct {
	Name        string // e.g. "portal.css"
	URL         string // e.g. "/assets/3f2a9c1b0d4e/portal.css"
	ContentType string
	Body        []byte
}

// Set is the immutable set of embedded assets.
type Set struct {
	byName map[string]*Asset
	byURL  map[string]*Asset
}

// Load reads every embedded asset and computes its hashed URL.
func Load() (*Set, error) {
	s := &Set{byName: map[string]*Asset{}, byURL: map[string]*Asset{}}
	err := fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "static/")
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(name))
		if ct == "" {
			ct = "application/octet-stream"
		}
		a := &Asset{Name: name, URL: "/assets/" + hex.EncodeToString(sum[:6]) + "/" + name, ContentType: ct, Body: b}
		s.byName[name] = a
		s.byURL[a.URL] = a
		return nil
	})
	return s, err
}

// URL returns the hashed URL of the named asset, or "" if there is none.
func (s *Set) URL(name string) string {
	if a, ok := s.byName[name]; ok {
		return a.URL
	}
	return ""
}

// ServeHTTP serves an asset by its hashed URL with a year-long immutable cache.
func (s *Set) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a, ok := s.byURL[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", a.ContentType)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Write(a.Body)
}
