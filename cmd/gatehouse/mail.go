package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/provider/admin"
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
