package provider

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider/audit"
)

// Machine tokens are audited in summaries. A client_credentials client may
// fetch thousands of tokens a second; an audit row for each would double
// the database writes of the token path and grow the trail by hundreds of
// millions of rows a day, without telling anyone more than "client C got
// N tokens for scope S between T1 and T2". So client_credentials issuance
// is counted in memory per client, API key and scope, and each count is
// recorded as one token.issued event (Details: count, first, last) every
// DefaultIssuedSummaryInterval and when the server stops. Tokens issued to
// people (authorization code, refresh) are recorded one by one.

// DefaultIssuedSummaryInterval is how often machine-token counts are
// written to the audit trail.
const DefaultIssuedSummaryInterval = 10 * time.Second

// maxIssuedKeys bounds the counts kept between two summaries; beyond it
// the summary is written early, so memory stays bounded whatever the
// number of clients.
const maxIssuedKeys = 10000

type issuedKey struct {
	clientID, apiKeyID, scope string
	// tokenType is "DPoP" for tokens bound to a key, "" for Bearer.
	tokenType string
}

type issuedCount struct {
	n           int
	first, last time.Time
	ip          string // the last request's
	ips         bool   // requests came from more than one IP
}

// issuedSummary counts client_credentials tokens until the next summary.
type issuedSummary struct {
	mu     sync.Mutex
	counts map[issuedKey]*issuedCount
}

// add counts one token; it reports true when the counts are full and
// should be written now.
func (s *issuedSummary) add(k issuedKey, at time.Time, ip string) (full bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counts == nil {
		s.counts = make(map[issuedKey]*issuedCount)
	}
	c := s.counts[k]
	if c == nil {
		c = &issuedCount{first: at, ip: ip}
		s.counts[k] = c
	}
	c.n++
	c.last = at
	if c.ip != ip {
		c.ips, c.ip = true, ip
	}
	return len(s.counts) >= maxIssuedKeys
}

// take returns the counts so far and starts new ones.
func (s *issuedSummary) take() map[issuedKey]*issuedCount {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.counts
	s.counts = nil
	return out
}

// recordIssuedSummary writes one token.issued event per counted key.
func (p *Provider) recordIssuedSummary(ctx context.Context) {
	for k, c := range p.issued.take() {
		details := map[string]string{
			"grant_type": "client_credentials",
			"scope":      k.scope,
			"count":      strconv.Itoa(c.n),
			"first":      c.first.UTC().Format(time.RFC3339Nano),
			"last":       c.last.UTC().Format(time.RFC3339Nano),
		}
		if k.apiKeyID != "" {
			details["api_key_id"] = k.apiKeyID
		}
		if k.tokenType != "" {
			details["token_type"] = k.tokenType
		}
		ip := c.ip
		if c.ips {
			details["ips"] = "several (last shown)"
		}
		p.audit.Record(ctx, audit.Event{
			Type: audit.TokenIssued, Actor: "client:" + k.clientID, Subject: "client:" + k.clientID,
			ClientID: k.clientID, IP: ip, Details: details,
		})
	}
}

// runIssuedSummaries writes the summaries every interval until ctx ends,
// then once more.
func (p *Provider) runIssuedSummaries(ctx context.Context) {
	t := time.NewTicker(p.opts.IssuedSummaryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			p.recordIssuedSummary(context.WithoutCancel(ctx))
			return
		case <-t.C:
			p.recordIssuedSummary(ctx)
		case <-p.issuedFull:
			p.recordIssuedSummary(ctx)
		}
	}
}
