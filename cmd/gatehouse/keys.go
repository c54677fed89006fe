package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/keys"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
)

// keyRetentionMargin is added to the longest lifetime of a signed token to
// get how long a retired key stays published: it covers clock skew and
// instances that keep signing with a just-retired key until their next
// reload (keys.DefaultReloadInterval).
const keyRetentionMargin = time.Hour

// keysOptions are the signing-key settings of cfg. serve (newApp) and the
// keys commands should both use it, so they compute the same schedule.
// Key changes are audited to rec as actor ("system" for serve's schedule,
// "operator" for the CLI).
func keysOptions(cfg config.Config, store *bunstore.Store, ring *secret.Keyring, log *slog.Logger, rec *audit.Recorder, actor string) keys.Options {
	return keys.Options{
		Store:            store,
		Keyring:          ring,
		Logger:           log,
		OnEvent:          keyEvents(rec, actor),
		RotationInterval: cfg.Keys.RotationInterval,
		JWKSCacheTTL:     cfg.Keys.JWKSCacheTTL,
		RSABits:          cfg.Keys.RSABits,
		// A retired key must verify everything it signed until it expires:
		// ID tokens and JWT access tokens.
		RetireRetention: max(cfg.Lifespans.IDToken, cfg.Lifespans.AccessToken) + keyRetentionMargin,
	}
}

// newKeysCommand manages the JWS signing keys.
func newKeysCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage the signing keys (list, rotate) and re-encrypt stored keys after a secret rotation",
		Long: "Signing keys go next (published in the JWKS, not signing) -> current (signs) -> retired\n" +
			"(published, verifies) -> removed, on the schedule set by keys.rotation_interval and\n" +
			"keys.jwks_cache_ttl. The server rotates on its own; these commands list and force it.",
	}
	cmd.AddCommand(newKeysListCommand(g), newKeysRotateCommand(g), newKeysReencryptCommand(g))
	return cmd
}

// withKeys opens the database and loads the signing keys with the
// configured schedule; the changes the command makes are audited.
func (g *globals) withKeys(cmd *cobra.Command, fn func(km *keys.Manager, store *bunstore.Store, ring *secret.Keyring) error) error {
	return g.withEnv(cmd, true, func(cfg config.Config, store *bunstore.Store, ring *secret.Keyring, log *slog.Logger) error {
		rec, stop := startRecorder(cmd.Context(), store, log)
		defer stop()
		km, err := keys.New(cmd.Context(), keysOptions(cfg, store, ring, log, rec, audit.ActorOperator))
		if err != nil {
			return err
		}
		return fn(km, store, ring)
	})
}

// keyJSON is a signing key as `keys list --json` prints it.
type keyJSON struct {
	KID               string     `json:"kid"`
	Algorithm         string     `json:"alg"`
	State             string     `json:"state"`
	CreatedAt         time.Time  `json:"created_at"`
	ActivatedAt       *time.Time `json:"activated_at,omitempty"`
	RetiredAt         *time.Time `json:"retired_at,omitempty"`
	PromotableAt      *time.Time `json:"promotable_at,omitempty"`
	PlannedActivation *time.Time `json:"planned_activation,omitempty"`
	PlannedRetirement *time.Time `json:"planned_retirement,omitempty"`
	PlannedRemoval    *time.Time `json:"planned_removal,omitempty"`
}

// optTime is nil for a zero time, else the time in UTC.
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func newKeysListCommand(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the signing keys with their state and planned changes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withKeys(cmd, func(km *keys.Manager, _ *bunstore.Store, _ *secret.Keyring) error {
				infos, err := km.Keys(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					out := make([]keyJSON, 0, len(infos))
					for _, k := range infos {
						out = append(out, keyJSON{
							KID: k.KID, Algorithm: k.Algorithm, State: k.State, CreatedAt: k.CreatedAt.UTC(),
							ActivatedAt: optTime(k.ActivatedAt), RetiredAt: optTime(k.RetiredAt),
							PromotableAt: optTime(k.PromotableAt), PlannedActivation: optTime(k.PlannedActivation),
							PlannedRetirement: optTime(k.PlannedRetirement), PlannedRemoval: optTime(k.PlannedRemoval),
						})
					}
					return json.NewEncoder(g.stdout).Encode(out)
				}
				tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ALG\tKID\tSTATE\tCREATED\tACTIVATED\tRETIRED\tPLANNED")
				for _, k := range infos {
					planned := "-"
					switch {
					case !k.PlannedActivation.IsZero():
						planned = "signs from " + fmtTime(k.PlannedActivation)
					case !k.PlannedRetirement.IsZero():
						planned = "retires at " + fmtTime(k.PlannedRetirement)
					case !k.PlannedRemoval.IsZero():
						planned = "removed at " + fmtTime(k.PlannedRemoval)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.Algorithm, k.KID, k.State,
						fmtTime(k.CreatedAt), fmtTime(k.ActivatedAt), fmtTime(k.RetiredAt), planned)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

// rotateJSON is one algorithm's result as `keys rotate --json` prints it.
type rotateJSON struct {
	Algorithm         string     `json:"alg"`
	Action            string     `json:"action"`
	CurrentKID        string     `json:"current_kid"`
	NextKID           string     `json:"next_kid,omitempty"`
	RetiredKID        string     `json:"retired_kid,omitempty"`
	CreatedNext       bool       `json:"created_next"`
	PublishedAt       *time.Time `json:"published_at,omitempty"`
	PromotableAt      *time.Time `json:"promotable_at,omitempty"`
	ScheduledAt       *time.Time `json:"scheduled_at,omitempty"`
	ActivatedAt       *time.Time `json:"activated_at,omitempty"`
	RetiredRemovalAt  *time.Time `json:"retired_removal_at,omitempty"`
	SkippedPrepublish bool       `json:"skipped_prepublish"`
}

func newKeysRotateCommand(g *globals) *cobra.Command {
	var alg string
	var now, asJSON bool
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Publish a next signing key, or make the published one sign",
		Long: "Without a next key, rotate publishes one in the JWKS; the server makes it sign once\n" +
			"it has been published for keys.jwks_cache_ttl plus the reload interval, so relying\n" +
			"parties have it before they see its tokens. Run again after that, rotate does the same\n" +
			"at once. The current key is then retired; it stays published until the tokens it\n" +
			"signed have expired.\n\n" +
			"--now skips the wait (e.g. after a key leaked): the new key signs at once. Relying\n" +
			"parties holding a cached JWKS reject tokens signed with it until they refetch (up to\n" +
			"keys.jwks_cache_ttl), and other instances keep signing with the old key until their\n" +
			"next reload (about a minute).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			algs := keys.Algorithms
			if alg != "" {
				a := strings.ToUpper(alg)
				if !isAlgorithm(a) {
					return usageError{fmt.Errorf("--alg must be one of %s, got %q", strings.Join(keys.Algorithms, ", "), alg)}
				}
				algs = []string{a}
			}
			return g.withKeys(cmd, func(km *keys.Manager, _ *bunstore.Store, _ *secret.Keyring) error {
				var out []rotateJSON
				var errs []error
				for _, a := range algs {
					res, err := km.Rotate(cmd.Context(), a, now)
					if err != nil {
						errs = append(errs, err)
						continue
					}
					if res.SkippedPrepublish {
						fmt.Fprintf(g.stderr, "WARNING: %s key %s signs before relying parties' cached JWKS include it: they reject its tokens until they refetch the JWKS (up to %s).\n",
							a, res.CurrentKID, km.CacheMaxAge())
					}
					if asJSON {
						out = append(out, rotateJSON{
							Algorithm: res.Algorithm, Action: string(res.Action), CurrentKID: res.CurrentKID,
							NextKID: res.NextKID, RetiredKID: res.RetiredKID, CreatedNext: res.CreatedNext,
							PublishedAt: optTime(res.PublishedAt), PromotableAt: optTime(res.PromotableAt),
							ScheduledAt: optTime(res.ScheduledAt), ActivatedAt: optTime(res.ActivatedAt),
							RetiredRemovalAt: optTime(res.RetiredRemovalAt), SkippedPrepublish: res.SkippedPrepublish,
						})
						continue
					}
					switch res.Action {
					case keys.RotateCreated, keys.RotatePending:
						verb := "published next key " + res.NextKID
						if res.Action == keys.RotatePending {
							verb = "next key " + res.NextKID + " is published since " + fmtTime(res.PublishedAt)
						}
						fmt.Fprintf(g.stdout, "%s: %s; it takes over at %s, once relying parties can have fetched it (add --now to skip the wait)\n",
							a, verb, fmtTime(res.ScheduledAt))
					case keys.RotatePromoted:
						fmt.Fprintf(g.stdout, "%s: %s signs from now on; %s is retired and stays published until %s\n",
							a, res.CurrentKID, res.RetiredKID, fmtTime(res.RetiredRemovalAt))
					}
				}
				if asJSON && out != nil {
					if err := json.NewEncoder(g.stdout).Encode(out); err != nil {
						errs = append(errs, err)
					}
				}
				return errors.Join(errs...)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&alg, "alg", "", "rotate only this algorithm: "+strings.Join(keys.Algorithms, " or ")+" (default: all)")
	f.BoolVar(&now, "now", false, "make the new key sign at once, without waiting for relying parties' JWKS caches")
	f.BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

func isAlgorithm(a string) bool {
	for _, x := range keys.Algorithms {
		if a == x {
			return true
		}
	}
	return false
}

func newKeysReencryptCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "reencrypt",
		Short: "Re-encrypt the stored private keys under the current GATEHOUSE_SECRET",
		Long: "After setting a new GATEHOUSE_SECRET with the previous one in GATEHOUSE_OLD_SECRETS,\n" +
			"reencrypt re-seals the signing keys and gatehouse's system keys (the hash pepper)\n" +
			"under the new secret, so the old one is no longer needed to open them.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withKeys(cmd, func(km *keys.Manager, store *bunstore.Store, ring *secret.Keyring) error {
				n, err := km.Reencrypt(cmd.Context())
				if err != nil {
					return err
				}
				ns, err := keys.ReencryptSystemKeys(cmd.Context(), store, ring, keys.PurposeHashPepper)
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "re-encrypted %d signing keys and %d system keys under the current secret\n", n, ns)
				fmt.Fprintln(g.stdout, "Keep the old secret in GATEHOUSE_OLD_SECRETS until the opaque tokens and codes issued under it have expired.")
				return nil
			})
		},
	}
}
