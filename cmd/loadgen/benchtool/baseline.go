// The Hydra v2.3.0 baseline and the performance targets: Hydra's figures
// by scenario, the ratio each scenario must reach, and the verdict.

package main

import (
	"fmt"
	"strings"
)

// row describes one scenario label that bench.sh runs.
type row struct {
	label string
	title string
	// hydra is Ory Hydra v2.3.0's rps by conns in the baseline
	// measurement (same machine and PostgreSQL, default settings); nil
	// when there is none.
	hydra map[int]float64
	// target is the performance target as a minimum ratio (to Hydra, or for
	// the API key to the client-secret row) at the conns listed.
	target   float64
	targetAt []int
	// versus, when set, is the row of the same run this one is compared
	// with instead of Hydra.
	versus     versus
	targetNote string
	// dpop: every request carries a DPoP proof (loadgen -dpop).
	dpop bool
	// flow: loadgen's unit is a whole authorization code flow, so the
	// cells are flows/s with the p50 and p99 of a flow. There is no
	// target for it and no Hydra figure.
	flow bool
}

// versus names a row of the same run that another is compared with: its
// label, and the name the ratio and the target give it ("0.95 of secret").
type versus struct{ label, name string }

var (
	// vsSecret is the client-secret row (opaque bearer tokens): the API
	// key, token exchange and DPoP rows are measured beside it.
	vsSecret = versus{"cc_opaque", "secret"}
	// vsBearer is the same row for the DPoP row, where what differs is
	// the proof, not the secret.
	vsBearer = versus{"cc_opaque", "bearer"}
	// vsJWTBearer is the JWT access token row without DPoP.
	vsJWTBearer = versus{"cc_jwt", "JWT bearer"}
)

// hydraP99At64 is Hydra's p99 for opaque client_credentials at 64
// connections in the baseline measurement; the target is at most a fifth
// of it.
const hydraP99At64 = 580.0

var rows = []row{
	{label: "cc_opaque", title: "client_credentials, opaque, client secret",
		hydra: map[int]float64{1: 175, 16: 350, 64: 346}, target: 10, targetAt: []int{16, 64}},
	{label: "cc_jwt", title: "client_credentials, JWT ES256, client secret",
		hydra: map[int]float64{1: 68, 16: 140, 64: 136}, target: 25, targetAt: []int{1, 16, 64}},
	{label: "cc_apikey", title: "client_credentials, opaque, API key",
		versus: vsSecret, target: 0.9, targetAt: []int{1, 16, 64}},
	// RFC 9449: a proof signed and verified (ES256) and its jti written
	// to the replay cache on every request; no target, the cost is
	// reported beside the bearer rows.
	{label: "cc_dpop", title: "client_credentials, opaque, DPoP (ES256 proof)",
		versus: vsBearer, targetNote: "no target (beside cc_opaque)", dpop: true},
	{label: "cc_dpop_jwt", title: "client_credentials, JWT ES256, DPoP (ES256 proof)",
		versus: vsJWTBearer, targetNote: "no target (beside cc_jwt)", dpop: true},
	{label: "exchange_delegation", title: "token exchange (RFC 8693), opaque subject and actor tokens",
		versus: vsSecret, targetNote: "no target (beside cc_opaque)"},
	{label: "exchange_impersonation", title: "token exchange (RFC 8693), opaque subject token, no actor",
		versus: vsSecret, targetNote: "no target (beside cc_opaque)"},
	{label: "introspect", title: "introspection of an opaque token",
		hydra: map[int]float64{1: 962, 16: 2191, 64: 2430}, target: 3, targetAt: []int{1, 16, 64}},
	{label: "jwks", title: "GET /.well-known/jwks.json",
		hydra: map[int]float64{1: 672, 16: 999, 64: 987}, target: 20, targetAt: []int{1, 16, 64}},
	{label: "discovery", title: "GET /.well-known/openid-configuration",
		targetNote: "no Hydra figure (target 20x)"},
	{label: "authcode", title: "authorization code flow, new sign-in each flow (flows/s)", flow: true},
	{label: "authcode_consent", title: "authorization code flow, third-party client, consent remembered, new sign-in each flow (flows/s)", flow: true},
	{label: "authcode_session", title: "authorization code flow, browser session reused (flows/s)", flow: true},
	{label: "authcode_passkey", title: "authorization code flow, passkey sign-in each flow, no password (flows/s)", flow: true},
	{label: "authcode_totp", title: "authorization code flow, password + TOTP sign-in each flow (flows/s)", flow: true},
	{label: "authcode_public", title: "authorization code flow, registered public client, session kept (flows/s)", flow: true},
	{label: "authcode_document", title: "authorization code flow, client known by its metadata document, session kept (flows/s)", flow: true},
}

// compare returns the ratio column and the target verdict of one row; base
// is the row r.versus names, if any.
func compare(r row, cs, base map[int]cell, conns []int) (string, string) {
	if r.flow {
		return "no Hydra figure", "no target (report only)"
	}
	var ratios []string
	at := map[int]float64{}
	for _, n := range conns {
		c, ok := cs[n]
		ref := 0.0
		switch {
		case r.versus.label != "":
			if b, ok := base[n]; ok {
				ref = b.rps
			}
		case r.hydra != nil:
			ref = r.hydra[n]
		}
		if !ok || ref <= 0 {
			ratios = append(ratios, "-")
			continue
		}
		at[n] = c.rps / ref
		if r.versus.label != "" {
			ratios = append(ratios, fmt.Sprintf("%.2f", at[n]))
		} else {
			ratios = append(ratios, fmt.Sprintf("%.1fx", at[n]))
		}
	}
	ratio := strings.Join(ratios, " / ")
	if r.versus.label != "" {
		ratio += " of " + r.versus.name
	}
	if r.target == 0 {
		if r.targetNote != "" {
			return ratio, r.targetNote
		}
		return ratio, "-"
	}
	want := fmt.Sprintf(">= %gx", r.target)
	if r.versus.label != "" {
		want = fmt.Sprintf(">= %.0f%% of %s", 100*r.target, r.versus.name)
	}
	verdict := "met"
	var checked []int // the target's conns that this run measured
	for _, n := range r.targetAt {
		x, ok := at[n]
		if !ok {
			continue
		}
		checked = append(checked, n)
		if x < r.target || cs[n].errs > 0 {
			verdict = "NOT met"
		}
	}
	if len(checked) == 0 {
		return ratio, want + " (not measured)"
	}
	return ratio, fmt.Sprintf("%s @%s: %s", want, joinInts(checked, ","), verdict)
}
