package assets

// Body returns the content of the named asset (nil if there is none), for
// a document that carries the styles inline: the readable copy of an
// export, which is opened from disk, without the portal.
func (s *Set) Body(name string) []byte {
	if a, ok := s.byName[name]; ok {
		return a.Body
	}
	return nil
}
