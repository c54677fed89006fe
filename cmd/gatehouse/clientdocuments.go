package main

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/outbound"
	"github.com/gatehouse-dev/gatehouse/provider/registration"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// outboundRootCAs reads http_client.ca_file: nil (the system's
// authorities) when unset. Trusting a private CA is for tests and
// development, so it is said at start.
func outboundRootCAs(cfg config.Config, log *slog.Logger) (*x509.CertPool, error) {
	if cfg.HTTPClient.CAFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(cfg.HTTPClient.CAFile)
	if err != nil {
		return nil, fmt.Errorf("http_client.ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("http_client.ca_file %s: no PEM certificate in it", cfg.HTTPClient.CAFile)
	}
	log.Warn("outbound HTTPS trusts the certificate authorities of http_client.ca_file instead of the system's (for tests and development)",
		"ca_file", cfg.HTTPClient.CAFile)
	return pool, nil
}

// documentFetchTimeout bounds one fetch of a client metadata document,
// connection and body included: a person waits on it.
const documentFetchTimeout = 5 * time.Second

// clientDocuments builds the resolver of client ID metadata documents, or
// nil when they are off.
func clientDocuments(cfg config.Config, store storage.Store, rootCAs *x509.CertPool, rec *audit.Recorder, now func() time.Time, log *slog.Logger) (*registration.Documents, error) {
	d := cfg.ClientIDMetadataDocuments
	if !d.Enabled {
		return nil, nil
	}
	if d.AllowHTTPLoopback {
		log.Warn("client_id_metadata_documents.allow_http_loopback admits http:// client ids on loopback hosts (for development only)")
	}
	docs, err := registration.NewDocuments(registration.DocumentOptions{
		Store: store,
		// No redirect is followed (the draft, §"Client Information
		// Discovery"), and the address dialled is checked (SSRF).
		HTTPClient: outbound.NewClient(outbound.Options{
			AllowPrivateNetworks: cfg.HTTPClient.AllowPrivateNetworks, MaxRedirects: -1,
			Timeout: documentFetchTimeout, RootCAs: rootCAs,
		}),
		Policy: registration.DocumentPolicy{
			AllowedDomains: d.AllowedDomains, DeniedDomains: d.DeniedDomains, TrustedDomains: d.TrustedDomains,
			Scopes: d.Scopes, Resources: d.Resources,
			MinTTL: d.MinCacheTTL, MaxTTL: d.MaxCacheTTL, StaleFor: d.StaleFor, MaxBytes: int64(d.MaxDocumentBytes),
			AllowHTTPLoopback: d.AllowHTTPLoopback,
		},
		Audit: rec, Now: now, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	return docs, nil
}

// engineDocuments is docs for provider.Options: a nil interface when
// they are off (a nil *Documents in the interface would look on).
func engineDocuments(docs *registration.Documents) provider.ClientDocuments {
	if docs == nil {
		return nil
	}
	return docs
}
