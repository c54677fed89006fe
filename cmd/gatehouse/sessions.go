package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/login"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
)

// newUsersSessionsCommand lists a user's login sessions.
func newUsersSessionsCommand(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "sessions EMAIL|ID",
		Short: "List where a user is signed in, and the apps that got tokens in each session",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withAdmin(cmd, false, func(a *admin.Admin, store *bunstore.Store) error {
				ctx := cmd.Context()
				u, err := findUser(ctx, store, args[0])
				if err != nil {
					return err
				}
				views, err := a.UserSessions(ctx, u.ID)
				if err != nil {
					return err
				}
				items := make([]admin.SessionView, 0, len(views))
				for _, v := range views {
					items = append(items, admin.SessionViewOf(v))
				}
				if asJSON {
					return json.NewEncoder(g.stdout).Encode(struct {
						Items []admin.SessionView `json:"items"`
					}{items})
				}
				tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SID\tSIGNED IN\tIP\tAPPS\tBROWSER")
				for _, s := range items {
					apps := make([]string, 0, len(s.Clients))
					for _, c := range s.Clients {
						apps = append(apps, c.ClientID)
					}
					sid := s.SID
					if sid == "" {
						sid = "-"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", sid, s.CreatedAt.Format(time.RFC3339), s.IP, strings.Join(apps, ","), s.UserAgent)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the sessions as JSON")
	return cmd
}

// newUsersEndSessionCommand ends one or every login session of a user;
// the apps that got tokens in them are told through the back channel (by
// the running server, which delivers what the command queued).
func newUsersEndSessionCommand(g *globals) *cobra.Command {
	var sid string
	var all, asJSON bool
	cmd := &cobra.Command{
		Use:   "end-session EMAIL|ID (--sid SID | --all)",
		Short: "Sign a user out of one session (--sid) or all (--all), telling the apps through the back channel",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (sid == "") == !all {
				return usageError{errors.New("give exactly one of --sid and --all")}
			}
			return g.withAdmin(cmd, false, func(a *admin.Admin, store *bunstore.Store) error {
				ctx := cmd.Context()
				u, err := findUser(ctx, store, args[0])
				if err != nil {
					return err
				}
				var ended []*login.EndedSession
				if all {
					if ended, err = a.EndUserSessions(ctx, nil, u.ID); err != nil {
						return err
					}
				} else {
					e, err := a.EndUserSession(ctx, nil, u.ID, sid)
					if errors.Is(err, storage.ErrNotFound) {
						return fmt.Errorf("user %s has no session with sid %q", u.Email, sid)
					} else if err != nil {
						return err
					}
					ended = append(ended, e)
				}
				items := make([]admin.EndedSessionView, 0, len(ended))
				for _, e := range ended {
					items = append(items, admin.EndedSessionViewOf(e))
				}
				if asJSON {
					return json.NewEncoder(g.stdout).Encode(struct {
						Items []admin.EndedSessionView `json:"items"`
					}{items})
				}
				notified := 0
				for _, e := range items {
					notified += e.BackchannelNotifications
				}
				fmt.Fprintf(g.stdout, "ended %d sessions of %s (%s); %d back-channel logout notifications queued\n",
					len(items), u.Email, u.ID, notified)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&sid, "sid", "", "the session's sid (see users sessions)")
	f.BoolVar(&all, "all", false, "end every session of the user")
	f.BoolVar(&asJSON, "json", false, "print the ended sessions as JSON")
	return cmd
}
