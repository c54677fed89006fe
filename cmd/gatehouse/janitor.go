package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/provider/registration"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
)

// janitorBatch is how many rows one statement deletes per table: small
// enough that no statement holds the (SQLite) writer for long.
const janitorBatch = 1000

// janitorMaxRounds bounds one run: at 1000 rows per table per round it
// deletes up to a million expired rows of each kind, and the next run
// carries on. A run must end so that a busy instance releases the lock.
const janitorMaxRounds = 1000

// janitorStore is what a janitor run needs.
type janitorStore interface {
	DeleteExpired(ctx context.Context, now time.Time, batch int) (int64, error)
	DeleteAuditEventsBefore(ctx context.Context, before time.Time, batch int) (int64, error)
	DeleteStaleLoginThrottles(ctx context.Context, before time.Time, batch int) (int64, error)
	DeleteDeadMailBefore(ctx context.Context, before time.Time, batch int) (int64, error)
	DeleteUnusedClients(ctx context.Context, registeredBy string, before time.Time, batch int) (int64, error)
	WithJanitorLock(ctx context.Context, fn func(ctx context.Context) error) (bool, error)
}

var _ janitorStore = storage.Store(nil)

// janitorReport says what one run did.
type janitorReport struct {
	// Ran is false when another instance held the janitor lock.
	Ran            bool  `json:"ran"`
	Expired        int64 `json:"expired_rows"`
	AuditEvents    int64 `json:"audit_events"`
	LoginThrottles int64 `json:"login_throttles"`
	DeadMail       int64 `json:"dead_mail"`
	// UnusedClients were registered without an initial access token and
	// never completed an authorization (registration.unused_client_lifetime).
	UnusedClients int64 `json:"unused_clients"`
}

// runJanitor deletes, in batches, every expired row (codes, tokens,
// sessions, flows, pushed requests, kept refresh responses, ...), audit
// events older than the retention, and login failure records that no
// longer count. On PostgreSQL one instance at a time does it.
func runJanitor(ctx context.Context, st janitorStore, cfg config.Config, now time.Time) (janitorReport, error) {
	var rep janitorReport
	ran, err := st.WithJanitorLock(ctx, func(ctx context.Context) error {
		var err error
		if rep.Expired, err = drain(ctx, func(ctx context.Context) (int64, error) {
			return st.DeleteExpired(ctx, now, janitorBatch)
		}); err != nil {
			return fmt.Errorf("delete expired rows: %w", err)
		}
		if cfg.Audit.Retention > 0 {
			before := now.Add(-cfg.Audit.Retention)
			if rep.AuditEvents, err = drain(ctx, func(ctx context.Context) (int64, error) {
				return st.DeleteAuditEventsBefore(ctx, before, janitorBatch)
			}); err != nil {
				return fmt.Errorf("delete old audit events: %w", err)
			}
		}
		before := now.Add(-cfg.Login.FailureReset)
		if rep.LoginThrottles, err = drain(ctx, func(ctx context.Context) (int64, error) {
			return st.DeleteStaleLoginThrottles(ctx, before, janitorBatch)
		}); err != nil {
			return fmt.Errorf("delete stale login failures: %w", err)
		}
		if cfg.Janitor.DeadMailRetention > 0 {
			before := now.Add(-cfg.Janitor.DeadMailRetention)
			if rep.DeadMail, err = drain(ctx, func(ctx context.Context) (int64, error) {
				return st.DeleteDeadMailBefore(ctx, before, janitorBatch)
			}); err != nil {
				return fmt.Errorf("delete old dead letters: %w", err)
			}
		}
		if cfg.Registration.UnusedClientLifetime > 0 {
			// Anyone may register under these policies; what never served
			// a person must not pile up.
			before := now.Add(-cfg.Registration.UnusedClientLifetime)
			for _, by := range []string{registration.RegisteredByPublic, registration.RegisteredByOpen} {
				n, err := drain(ctx, func(ctx context.Context) (int64, error) {
					return st.DeleteUnusedClients(ctx, by, before, janitorBatch)
				})
				rep.UnusedClients += n
				if err != nil {
					return fmt.Errorf("delete unused registered clients: %w", err)
				}
			}
		}
		return nil
	})
	rep.Ran = ran
	return rep, err
}

// drain repeats one batched delete until a batch comes back short (the
// table is clean) or the run's bound is reached; it returns the total.
func drain(ctx context.Context, deleteBatch func(ctx context.Context) (int64, error)) (int64, error) {
	var total int64
	for range janitorMaxRounds {
		n, err := deleteBatch(ctx)
		total += n
		if err != nil {
			return total, err
		}
		// DeleteExpired deletes up to a batch per table, so a full round
		// may exceed one batch; any round under one batch means done.
		if n < janitorBatch {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
	return total, nil
}

// janitorLoop runs the janitor every interval until ctx ends; now is its
// clock.
func janitorLoop(ctx context.Context, st janitorStore, cfg config.Config, now func() time.Time, log *slog.Logger) {
	t := time.NewTicker(cfg.Janitor.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rep, err := runJanitor(ctx, st, cfg, now())
		switch {
		case err != nil && ctx.Err() == nil:
			log.WarnContext(ctx, "janitor: cleaning up failed; will retry at the next run", "err", err)
		case !rep.Ran:
			log.DebugContext(ctx, "janitor: another instance is cleaning up")
		case rep.Expired+rep.AuditEvents+rep.LoginThrottles+rep.DeadMail+rep.UnusedClients > 0:
			log.InfoContext(ctx, "janitor: deleted old rows", "expired", rep.Expired,
				"audit_events", rep.AuditEvents, "login_failures", rep.LoginThrottles,
				"dead_mail", rep.DeadMail, "unused_clients", rep.UnusedClients)
		}
	}
}

// newJanitorCommand runs the janitor once, for deployments that schedule
// it (cron) or want a clean database now.
func newJanitorCommand(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "janitor",
		Short: "Delete expired tokens, codes, sessions and requests, and audit events past audit.retention, once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withEnv(cmd, false, func(cfg config.Config, store *bunstore.Store, _ *secret.Keyring, _ *slog.Logger) error {
				rep, err := runJanitor(cmd.Context(), store, cfg, g.now())
				if err != nil {
					return err
				}
				if asJSON {
					return json.NewEncoder(g.stdout).Encode(rep)
				}
				if !rep.Ran {
					fmt.Fprintln(g.stdout, "another instance is running the janitor; nothing done")
					return nil
				}
				fmt.Fprintf(g.stdout, "deleted %d expired rows, %d audit events, %d login failure records\n",
					rep.Expired, rep.AuditEvents, rep.LoginThrottles)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}
