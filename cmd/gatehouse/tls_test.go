package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"

	"github.com/gatehouse-dev/gatehouse/config"
)

// testCert is a self-signed certificate for 127.0.0.1, for a test server
// that must speak TLS: clients that refuse plain-HTTP issuers by default
// (openid-client) then run unchanged.
type testCert struct {
	server *tls.Config
	roots  *x509.CertPool
	// pemFile holds the certificate, for clients that read their trusted
	// roots from a file (Node.js: NODE_EXTRA_CA_CERTS).
	pemFile string
}

func newTestCert(t *testing.T) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gatehouse test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	pemFile := filepath.Join(t.TempDir(), "test-ca.pem")
	if err := os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &testCert{
		server:  &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}}, MinVersion: tls.VersionTLS12},
		roots:   roots,
		pemFile: pemFile,
	}
}

// transport is an HTTP transport that trusts the certificate.
func (c *testCert) transport() http.RoundTripper {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: c.roots, MinVersion: tls.VersionTLS12}
	return tr
}

// startTLSServer is startServer with the public listener speaking TLS
// (issuer https://127.0.0.1:port); the admin listener stays plain.
func startTLSServer(t *testing.T, dialect string, cert *testCert, mods ...func(*config.Config)) *testServer {
	t.Helper()
	return startServerWithCert(t, bunstoretest.Open(t, dialect, bunstore.Options{}), appOptions{}, cert, mods...)
}
