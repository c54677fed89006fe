package provider

import (
	"context"
	"errors"

	"github.com/ory/fosite"
)

// Clients whose client_id is the https URL of their client ID metadata
// document (draft-ietf-oauth-client-id-metadata-document) need no
// registration: provider/registration fetches the document, validates it
// and stores gatehouse's copy as a client (storage.Client.MetadataDocument).
// The engine asks for a fresh copy at the front door of an authorization
// (the authorization and PAR endpoints: a person is about to be asked to
// trust the client, §"OAuth Phishing Attacks"), and never fetches on the
// token path: there the stored copy serves, like any registered client,
// and a stale one is fetched again in the background.

// ClientDocuments resolves such clients (registration.Documents).
type ClientDocuments interface {
	// Resolve makes sure the stored copy of the document at clientID can
	// be used for a new authorization: fresh, else fetched again (a copy
	// within its stale period stands in while the document cannot be
	// fetched). It returns nil at once for a client_id that is not a
	// document URL, and a *ClientDocumentError for a document that cannot
	// be used.
	Resolve(ctx context.Context, clientID string) error
	// RefreshLater fetches the document again in the background.
	RefreshLater(clientID string)
	// Supported says whether discovery advertises the documents.
	Supported() bool
}

// ClientDocumentError says why a client's metadata document cannot be
// used; the reason is safe to show to the person and the client.
type ClientDocumentError struct {
	Reason string
}

func (e *ClientDocumentError) Error() string { return "client metadata document: " + e.Reason }

// errClientDocument maps a resolution failure: invalid_client with the
// reason (RFC 6749 §4.1.2.1: with no client the redirect cannot be
// trusted, so the person sees it on a page, never redirected).
func errClientDocument(err error) error {
	var de *ClientDocumentError
	if errors.As(err, &de) {
		return fosite.ErrInvalidClient.WithHint("The client's metadata document cannot be used: " + de.Reason)
	}
	return fosite.ErrServerError.WithWrap(err)
}

// resolveClientDocument resolves the request's client_id when it is a
// document URL.
func (p *Provider) resolveClientDocument(ctx context.Context, clientID string) error {
	if p.opts.ClientDocuments == nil || clientID == "" {
		return nil
	}
	if err := p.opts.ClientDocuments.Resolve(ctx, clientID); err != nil {
		return errClientDocument(err)
	}
	return nil
}
