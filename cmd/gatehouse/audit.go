package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/keys"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
)

// startRecorder runs an audit recorder writing to store until the
// returned stop is called; stop writes what the recorder still holds
// (within a few seconds) before it returns, so a CLI command's events are
// stored before the command exits and the store closes.
func startRecorder(ctx context.Context, store *bunstore.Store, log *slog.Logger) (*audit.Recorder, func()) {
	rec := audit.NewRecorder(audit.Options{Store: store, Logger: log})
	// Not the command's context: an interrupt must still let the recorder
	// flush.
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		rec.Run(ctx)
	}()
	return rec, func() {
		cancel()
		<-done
	}
}

// withAdmin opens the store and runs fn with the administration the admin
// API uses too (provider/admin), acting as the operator (a nil principal):
// its audit events go to the log and the database (startRecorder). ring is
// needed for anything that makes a secret (needSecret).
func (g *globals) withAdmin(cmd *cobra.Command, needSecret bool, fn func(a *admin.Admin, store *bunstore.Store) error) error {
	return g.withStoreLog(cmd, needSecret, func(store *bunstore.Store, ring *secret.Keyring, log *slog.Logger) error {
		rec, stop := startRecorder(cmd.Context(), store, log)
		defer stop()
		a, err := admin.New(admin.Options{Store: store, Keyring: ring, Audit: rec, Logger: log})
		if err != nil {
			return err
		}
		return fn(a, store)
	})
}

// keyEvents records the signing-key changes of a keys.Manager as actor
// ("system" for the server's schedule, "operator" for the CLI).
func keyEvents(rec *audit.Recorder, actor string) func(context.Context, keys.Event) {
	types := map[string]string{
		keys.EventCreated: audit.KeyCreated, keys.EventRotated: audit.KeyRotated,
		keys.EventDeleted: audit.KeyDeleted, keys.EventResealed: audit.KeyResealed,
	}
	return func(ctx context.Context, e keys.Event) {
		typ, ok := types[e.Kind]
		if !ok {
			typ = "key." + e.Kind
		}
		details := map[string]string{"alg": e.Algorithm}
		if e.State != "" {
			details["state"] = e.State
		}
		if e.RetiredKID != "" {
			details["retired_kid"] = e.RetiredKID
		}
		rec.Record(ctx, audit.Event{Type: typ, Actor: actor, Subject: audit.KeySubject(e.KID), Details: details})
	}
}

// auditListJSON is what `gatehouse audit --json` prints (the admin API's
// GET /admin/audit answers the same shape).
type auditListJSON struct {
	Events []admin.AuditEventView `json:"events"`
	Next   string                 `json:"next"`
}

func newAuditCommand(g *globals) *cobra.Command {
	var since, until string
	var q storage.AuditQuery
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show the audit trail, newest first",
		Long: "Show audit events from the database, newest first: sign-ins, consent, tokens, client, key\n" +
			"and user changes. --since and --until take a duration before now (90m, 1h, 7d) or an\n" +
			"RFC 3339 time; --type takes an exact type (login.failed) or a prefix ending in a dot\n" +
			"(login.). A full page ends with the cursor to pass as --before for the next one.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now()
			for _, f := range []struct {
				name, value string
				into        *time.Time
			}{{"since", since, &q.Since}, {"until", until, &q.Until}} {
				if f.value == "" {
					continue
				}
				t, err := admin.ParseAuditTime(f.value, now)
				if err != nil {
					return usageError{fmt.Errorf("--%s: %w", f.name, err)}
				}
				*f.into = t
			}
			if err := admin.CheckAuditQuery(q); err != nil {
				return usageError{fmt.Errorf("invalid query:\n%w", indent(err))}
			}
			return g.withAdmin(cmd, false, func(a *admin.Admin, _ *bunstore.Store) error {
				events, next, err := a.AuditEvents(cmd.Context(), q)
				if err != nil {
					return err
				}
				if asJSON {
					return json.NewEncoder(g.stdout).Encode(auditListJSON{Events: admin.AuditEventViews(events), Next: next})
				}
				if err := printAuditEvents(g.stdout, events); err != nil {
					return err
				}
				if next != "" {
					fmt.Fprintf(g.stderr, "More events: add --before %s\n", next)
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&since, "since", "", "only events at or after this time: a duration before now (1h, 7d) or an RFC 3339 time")
	f.StringVar(&until, "until", "", "only events before this time (as --since)")
	f.StringVar(&q.Type, "type", "", `event type (login.failed), or a prefix ending in "." (login.)`)
	f.StringVar(&q.Subject, "subject", "", `what the event concerns, e.g. "user:ID", "client:ID", "key:KID"`)
	f.StringVar(&q.Actor, "actor", "", `who acted, e.g. "operator", "user:ID", "client:ID"`)
	f.StringVar(&q.ClientID, "client", "", "id of the client concerned")
	f.IntVar(&q.Limit, "limit", storage.DefaultAuditLimit, fmt.Sprintf("most events to show (at most %d)", storage.MaxAuditLimit))
	f.StringVar(&q.Before, "before", "", "continue after a previous page (the cursor it printed)")
	f.BoolVar(&asJSON, "json", false, `print one JSON object {"events": [...], "next": cursor}`)
	return cmd
}

// printAuditEvents writes one aligned line per event.
func printAuditEvents(w io.Writer, events []*storage.AuditEvent) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tTYPE\tACTOR\tSUBJECT\tCLIENT\tIP\tDETAILS")
	for _, ev := range events {
		var details []string
		for _, k := range slices.Sorted(maps.Keys(ev.Details)) {
			details = append(details, cell(k)+"="+cell(ev.Details[k]))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ev.Time.UTC().Format(time.RFC3339), cell(ev.Type), cell(ev.Actor),
			cell(ev.Subject), cell(ev.ClientID), cell(ev.IP), strings.Join(details, " "))
	}
	return tw.Flush()
}

// cell makes a value safe for one column of a terminal line: "-" when
// empty, quoted when it has spaces or characters that are not printable
// (events carry what clients sent, which must not move the cursor or
// break the columns).
func cell(s string) string {
	switch {
	case s == "":
		return "-"
	case strings.IndexFunc(s, func(r rune) bool { return r == ' ' || r == '"' || !unicode.IsPrint(r) }) >= 0:
		return strconv.QuoteToGraphic(s)
	}
	return s
}
