package admin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/login"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// SessionView is a person's login session as the admin API and the CLI
// show it: its sid (never the cookie or its hash), the browser, when it
// started and ends, and the apps that got tokens in it.
type SessionView struct {
	SID       string              `json:"sid"`
	UserID    string              `json:"user_id"`
	UserAgent string              `json:"user_agent,omitempty"`
	IP        string              `json:"ip,omitempty"`
	AMR       []string            `json:"amr"`
	CreatedAt time.Time           `json:"created_at"`
	AuthTime  time.Time           `json:"auth_time"`
	ExpiresAt time.Time           `json:"expires_at"`
	Clients   []SessionClientView `json:"clients"`
}

// SessionClientView is an app that got tokens in a session.
type SessionClientView struct {
	ClientID   string `json:"client_id"`
	ClientName string `json:"client_name"`
}

// EndedSessionView is the answer to ending a session: the apps that were
// told through the back channel (backchannel_notifications of them).
type EndedSessionView struct {
	SID                      string              `json:"sid"`
	UserID                   string              `json:"user_id"`
	Clients                  []SessionClientView `json:"clients"`
	BackchannelNotifications int                 `json:"backchannel_notifications"`
}

// SessionViewOf describes v.
func SessionViewOf(v login.SessionView) SessionView {
	ls := v.Session
	return SessionView{
		SID: ls.SID, UserID: ls.UserID, UserAgent: ls.UserAgent, IP: ls.IP, AMR: nonNil(ls.AMR),
		CreatedAt: ls.CreatedAt.UTC(), AuthTime: ls.AuthTime.UTC(), ExpiresAt: ls.ExpiresAt.UTC(),
		Clients: sessionClients(v.Clients),
	}
}

// EndedSessionViewOf describes e.
func EndedSessionViewOf(e *login.EndedSession) EndedSessionView {
	return EndedSessionView{
		SID: e.Session.SID, UserID: e.Session.UserID, Clients: sessionClients(e.Clients), BackchannelNotifications: e.Backchannel,
	}
}

func sessionClients(cs []*storage.Client) []SessionClientView {
	out := make([]SessionClientView, 0, len(cs))
	for _, c := range cs {
		out = append(out, SessionClientView{ClientID: c.ID, ClientName: c.Name})
	}
	return out
}

// UserSessions lists a user's unexpired login sessions, newest first;
// storage.ErrNotFound for an unknown user.
func (a *Admin) UserSessions(ctx context.Context, userID string) ([]login.SessionView, error) {
	if _, err := a.store.UserByID(ctx, userID); err != nil {
		return nil, err
	}
	return a.sessions.List(ctx, userID)
}

// EndUserSession ends the user's session whose sid is sid for who: the
// apps that got tokens in it are told through the back channel (no
// browser is there for the front channel). storage.ErrNotFound for an
// unknown user or a session the user does not have (any more).
func (a *Admin) EndUserSession(ctx context.Context, who *provider.Principal, userID, sid string) (*login.EndedSession, error) {
	if _, err := a.store.UserByID(ctx, userID); err != nil {
		return nil, err
	}
	ls, err := a.sessions.FindBySID(ctx, userID, sid)
	if err != nil {
		return nil, err
	}
	return a.sessions.End(ctx, ls, who.Actor(), audit.SessionEndedByAdmin)
}

// EndUserSessions ends every login session of the user for who, as
// EndUserSession does each (sessions without a sid included).
func (a *Admin) EndUserSessions(ctx context.Context, who *provider.Principal, userID string) ([]*login.EndedSession, error) {
	if _, err := a.store.UserByID(ctx, userID); err != nil {
		return nil, err
	}
	views, err := a.sessions.List(ctx, userID)
	if err != nil {
		return nil, err
	}
	var out []*login.EndedSession
	for _, v := range views {
		ended, err := a.sessions.End(ctx, v.Session, who.Actor(), audit.SessionEndedByAdmin)
		if errors.Is(err, storage.ErrNotFound) {
			continue // ended meanwhile, by someone who told its apps
		}
		if err != nil {
			return out, fmt.Errorf("end session: %w", err)
		}
		out = append(out, ended)
	}
	return out, nil
}
