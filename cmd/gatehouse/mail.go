package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/login"
	"github.com/gatehouse-dev/gatehouse/provider/mail"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
)

func newMailCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mail",
		Short: "Look at the e-mail outbox",
	}
	cmd.AddCommand(newMailDeadCommand(g))
	return cmd
}

// newMailDeadCommand lists the dead letters: what the mail server refused
// for good or what could not be sent within the retry bounds.
func newMailDeadCommand(g *globals) *cobra.Command {
	var asJSON bool
	var limit int
	cmd := &cobra.Command{
		Use:   "dead",
		Short: "List the e-mail gatehouse gave up sending (most recent first)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > admin.MaxDeadMail {
				return usageError{fmt.Errorf("--limit must be from 1 to %d", admin.MaxDeadMail)}
			}
			return g.withAdmin(cmd, false, func(a *admin.Admin, _ *bunstore.Store) error {
				items, err := a.DeadMail(cmd.Context(), limit)
				if err != nil {
					return err
				}
				if asJSON {
					return json.NewEncoder(g.stdout).Encode(struct {
						Items []admin.DeadMailView `json:"items"`
					}{items})
				}
				tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "GAVE UP\tTO\tSUBJECT\tATTEMPTS\tLAST ERROR")
				for _, m := range items {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", m.DeadAt.Format(time.RFC3339), m.To, m.Subject, m.Attempts, m.LastError)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the dead letters as JSON")
	cmd.Flags().IntVar(&limit, "limit", 100, fmt.Sprintf("how many to list (1 to %d)", admin.MaxDeadMail))
	return cmd
}

// newUsersSendVerificationCommand queues an e-mail verification link for
// a user; a running server sends it.
func newUsersSendVerificationCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "send-verification EMAIL|ID",
		Short: "E-mail a link that verifies the user's address (sent by a running server)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withEnv(cmd, true, func(cfg config.Config, store *bunstore.Store, ring *secret.Keyring, log *slog.Logger) error {
				if !cfg.SMTP.Enabled() && !cfg.Dev {
					return usageError{errors.New("gatehouse sends no e-mail: set smtp.host")}
				}
				ctx := cmd.Context()
				u, err := findUser(ctx, store, args[0])
				if err != nil {
					return err
				}
				rec, stop := startRecorder(ctx, store, log)
				defer stop()
				verifier, err := newQueueingVerifier(cfg, store, ring, log)
				if err != nil {
					return err
				}
				a, err := admin.New(admin.Options{Store: store, Keyring: ring, Audit: rec, Verifier: verifier, Logger: log})
				if err != nil {
					return err
				}
				if _, err := a.SendVerification(ctx, nil, u.ID); err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "queued a verification link for %s; a running server sends it\n", u.Email)
				return nil
			})
		},
	}
}

// newQueueingVerifier is e-mail verification on an outbox that only
// queues: the CLI writes the message, a server sends it.
func newQueueingVerifier(cfg config.Config, store *bunstore.Store, ring *secret.Keyring, log *slog.Logger) (*login.EmailVerification, error) {
	outbox, err := mail.New(mail.Options{Store: store, Keyring: ring, Logger: log})
	if err != nil {
		return nil, err
	}
	tmpl, err := mail.NewTemplates(mail.Branding{Product: cfg.Branding.ProductName, SupportURL: cfg.Branding.SupportURL})
	if err != nil {
		return nil, err
	}
	// The CLI confirms no link, so its Sessions never end one.
	sessions, err := login.NewSessions(login.SessionsOptions{Store: store, Logger: log})
	if err != nil {
		return nil, err
	}
	return login.NewEmailVerification(login.EmailVerificationOptions{
		Store: store, Mail: outbox, Templates: tmpl, Issuer: cfg.Issuer, Sessions: sessions, Logger: log,
	})
}
