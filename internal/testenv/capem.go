package testenv

// CAPEM returns PEM certificates that verify this server's TLS certificate
// (the server certificate followed by its CA), for a portal's xmpp.ca_file.
func (s *Server) CAPEM() []byte {
	c, err := certsFor(s.Domain)
	if err != nil {
		s.t.Fatalf("testenv: certificates: %v", err)
	}
	return c.CertPEM
}
