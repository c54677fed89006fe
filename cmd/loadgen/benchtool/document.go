package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// serveDocument serves one client ID metadata document over HTTPS on
// loopback, as a client's web site would, with a certificate of its own
// made-up CA (written to -ca-file for gatehouse's http_client.ca_file).
// It prints the document's URL (the client_id) and serves until killed
// or -max-lifetime passes.
//
//	benchtool serve-document -port P -redirect-uri U -ca-file F [-max-lifetime 2h]
func serveDocument(args []string) error {
	fs := flag.NewFlagSet("serve-document", flag.ContinueOnError)
	port := fs.Int("port", 0, "loopback port to listen on (required)")
	redirect := fs.String("redirect-uri", "", "the client's redirect URI (required)")
	caFile := fs.String("ca-file", "", "where to write the PEM certificate gatehouse must trust (required)")
	maxLife := fs.Duration("max-lifetime", 2*time.Hour, "stop after this long in any case")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *port <= 0 || *redirect == "" || *caFile == "" {
		return errors.New("serve-document needs -port, -redirect-uri and -ca-file")
	}
	cert, pemCert, err := selfSigned()
	if err != nil {
		return err
	}
	if err := os.WriteFile(*caFile, pemCert, 0o600); err != nil {
		return err
	}
	id := fmt.Sprintf("https://127.0.0.1:%d/client.json", *port)
	doc, _ := json.Marshal(map[string]any{
		"client_id": id, "client_name": "bench document client", "redirect_uris": []string{*redirect},
		"grant_types": []string{"authorization_code", "refresh_token"}, "token_endpoint_auth_method": "none",
	})
	srv := &http.Server{
		Addr:              fmt.Sprintf("127.0.0.1:%d", *port),
		ReadHeaderTimeout: 5 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/client.json" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "max-age=3600")
			_, _ = w.Write(doc)
		}),
	}
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return err
	}
	fmt.Println(id)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		select {
		case <-stop:
		case <-time.After(*maxLife):
		}
		_ = srv.Close()
	}()
	if err := srv.ServeTLS(ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// selfSigned makes a certificate for 127.0.0.1 that is its own CA.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "gatehouse bench documents"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}
