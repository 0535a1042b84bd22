package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"sync"
	"time"
)

// certSet is a server certificate signed by the test run's CA.
type certSet struct {
	CertPEM []byte // server certificate followed by the CA certificate
	KeyPEM  []byte // server key (PKCS#8)
	Pool    *x509.CertPool
	Pair    tls.Certificate // CertPEM and KeyPEM, loaded
}

var (
	certMu    sync.Mutex
	certCache = map[string]*certSet{}
	runCA     *testCA // one per test process, made at the first use
)

// testCA is a throwaway CA.
type testCA struct {
	cert *x509.Certificate
	der  []byte
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

// certsFor returns the certificates for domain, generated once per test run.
// The server certificate covers localhost, *.localhost, 127.0.0.1, ::1,
// domain and *.domain. Every domain's certificate is signed by the same CA,
// so each Pool verifies them all.
func certsFor(domain string) (*certSet, error) {
	certMu.Lock()
	defer certMu.Unlock()
	if c, ok := certCache[domain]; ok {
		return c, nil
	}
	if runCA == nil {
		ca, err := newCA()
		if err != nil {
			return nil, err
		}
		runCA = ca
	}
	c, err := newCerts(runCA, domain)
	if err != nil {
		return nil, err
	}
	certCache[domain] = c
	return c, nil
}

// TLSCertificate returns a server certificate for domain (and *.domain,
// localhost, *.localhost, 127.0.0.1, ::1) signed by this test run's CA,
// and a pool that trusts the CA. The CA is one per test process, so the
// pool verifies the certificate of every domain; each certificate is made
// once. It is for servers a test plays itself (package xmpptest's scripted
// XMPP server), the real servers get theirs the same way.
func TLSCertificate(domain string) (tls.Certificate, *x509.CertPool, error) {
	c, err := certsFor(domain)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return c.Pair, c.Pool, nil
}

func newCA() (*testCA, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "portal testenv CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(48 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &testCA{cert: ca, der: caDER, key: caKey, pool: pool}, nil
}

func newCerts(ca *testCA, domain string) (*certSet, error) {
	now := time.Now()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	dns := []string{"localhost", "*.localhost"}
	if domain != "localhost" && domain != "" {
		dns = append(dns, domain, "*."+domain)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(48 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     dns,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	c := &certSet{Pool: ca.pool}
	c.CertPEM = append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.der})...)
	c.KeyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	c.Pair, err = tls.X509KeyPair(c.CertPEM, c.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("testenv: generated key pair does not load: %w", err)
	}
	return c, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err)
	}
	return n
}
