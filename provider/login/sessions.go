package login

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/backchannel"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// SessionStore is the storage that listing and ending login sessions
// needs.
type SessionStore interface {
	ClientByID(ctx context.Context, id string) (*storage.Client, error)
	LoginSessionsOfUser(ctx context.Context, userID string) ([]*storage.LoginSession, error)
	LoginSessionClients(ctx context.Context, sessionID string) ([]string, error)
	EndLoginSession(ctx context.Context, id string) ([]string, error)
	EnqueueLogoutDeliveries(ctx context.Context, ds []*storage.LogoutDelivery) error
	DeleteLoginSessionsOfUser(ctx context.Context, userID string) error
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// SessionsOptions configure Sessions. Store is required.
type SessionsOptions struct {
	Store SessionStore
	// Audit receives session.ended; nil records nothing.
	Audit *audit.Recorder
	// LogoutQueued is called after back-channel notifications were queued
	// (backchannel.Deliverer.Wake), so they go out at once; nil: they go
	// at the deliverer's next look at the queue.
	LogoutQueued func()
	Now          func() time.Time
	Logger       *slog.Logger
}

// Sessions lists people's login sessions and ends them. Ending one tells
// every app that got tokens in it: back-channel notifications are queued
// in the same transaction that deletes it, and the apps are returned for
// the front-channel page when a browser is there. The account page, the
// logout endpoint, the admin API and the CLI all end sessions here.
type Sessions struct {
	store  SessionStore
	audit  *audit.Recorder
	queued func()
	now    func() time.Time
	log    *slog.Logger
}

// NewSessions returns Sessions as o configures it.
func NewSessions(o SessionsOptions) (*Sessions, error) {
	if o.Store == nil {
		return nil, errors.New("login: Sessions needs a Store")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.LogoutQueued == nil {
		o.LogoutQueued = func() {}
	}
	return &Sessions{store: o.Store, audit: o.Audit, queued: o.LogoutQueued, now: o.Now, log: o.Logger}, nil
}

// maxListedSessions bounds a listing: a person signs in from a handful of
// browsers; a script that signs in in a loop must not make the page
// unbounded.
const maxListedSessions = 100

// SessionView is a login session with the apps that got tokens in it.
type SessionView struct {
	Session *storage.LoginSession
	// Clients got a code in the session, first first (deleted clients
	// left out).
	Clients []*storage.Client
}

// EndedSession is a session that was ended: whose, and the apps that got
// tokens in it, for the front-channel logout page.
type EndedSession struct {
	Session *storage.LoginSession
	Clients []*storage.Client
	// Backchannel is how many back-channel notifications were queued.
	Backchannel int
}

// List returns the user's unexpired sessions, newest first, at most
// maxListedSessions of them.
func (s *Sessions) List(ctx context.Context, userID string) ([]SessionView, error) {
	all, err := s.store.LoginSessionsOfUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	if len(all) > maxListedSessions {
		all = all[:maxListedSessions]
	}
	out := make([]SessionView, 0, len(all))
	for _, ls := range all {
		ids, err := s.store.LoginSessionClients(ctx, ls.ID)
		if err != nil {
			return nil, err
		}
		clients, err := s.clients(ctx, ids)
		if err != nil {
			return nil, err
		}
		out = append(out, SessionView{Session: ls, Clients: clients})
	}
	return out, nil
}

// FindBySID returns the user's unexpired session whose sid is sid;
// storage.ErrNotFound when the user has none (a session of someone else
// is not found either).
func (s *Sessions) FindBySID(ctx context.Context, userID, sid string) (*storage.LoginSession, error) {
	if sid == "" || len(sid) > 100 {
		return nil, fmt.Errorf("login: session %w", storage.ErrNotFound)
	}
	all, err := s.store.LoginSessionsOfUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	for _, ls := range all {
		if ls.SID == sid {
			return ls, nil
		}
	}
	return nil, fmt.Errorf("login: session %w", storage.ErrNotFound)
}

// End ends the session ls on behalf of actor (an audit actor) for reason
// (audit.SessionEndedBy*): in one transaction it deletes the session and
// queues a back-channel notification for each of its apps that registered
// a backchannel_logout_uri. storage.ErrNotFound when the session had
// already ended (someone else ended it first, and told its apps).
func (s *Sessions) End(ctx context.Context, ls *storage.LoginSession, actor, reason string) (*EndedSession, error) {
	var ended *EndedSession
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		var err error
		ended, err = s.end(ctx, ls)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.told(ctx, actor, reason, ended)
	return ended, nil
}

// EndAll ends every session of the user as End does each, in one
// transaction (the caller's when ctx carries one: disabling a user or
// resetting a password signs them out in the same transaction), and
// deletes their expired sessions too.
func (s *Sessions) EndAll(ctx context.Context, userID, actor, reason string) ([]*EndedSession, error) {
	return s.endAllBut(ctx, userID, "", actor, reason)
}

// EndOthers is EndAll but for the session whose ID (storage.LoginSession.ID)
// is keep, which stays: the browser the person is using when they change
// a credential stays signed in, every other one is signed out. A keep
// that is not one of the user's sessions ("", another person's) keeps
// nothing (then it is EndAll). When one is kept, the user's expired
// sessions are left to the janitor: they sign nobody in.
func (s *Sessions) EndOthers(ctx context.Context, userID, keep, actor, reason string) ([]*EndedSession, error) {
	return s.endAllBut(ctx, userID, keep, actor, reason)
}

func (s *Sessions) endAllBut(ctx context.Context, userID, keep, actor, reason string) ([]*EndedSession, error) {
	var ended []*EndedSession
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		all, err := s.store.LoginSessionsOfUser(ctx, userID)
		if err != nil {
			return err
		}
		kept := false
		for _, ls := range all {
			if keep != "" && ls.ID == keep {
				kept = true
				continue
			}
			e, err := s.end(ctx, ls)
			if errors.Is(err, storage.ErrNotFound) {
				continue // ended meanwhile, by someone who told its apps
			}
			if err != nil {
				return err
			}
			ended = append(ended, e)
		}
		if kept {
			return nil
		}
		return s.store.DeleteLoginSessionsOfUser(ctx, userID)
	})
	if err != nil {
		return nil, err
	}
	for _, e := range ended {
		s.told(ctx, actor, reason, e)
	}
	return ended, nil
}

// end deletes ls and queues its notifications, in the transaction of ctx.
func (s *Sessions) end(ctx context.Context, ls *storage.LoginSession) (*EndedSession, error) {
	ended := &EndedSession{Session: ls}
	ids, err := s.store.EndLoginSession(ctx, ls.ID)
	if err != nil {
		return nil, err
	}
	if ended.Clients, err = s.clients(ctx, ids); err != nil {
		return nil, err
	}
	ds := backchannel.NewDeliveries(ended.Clients, ls.UserID, ls.SID, s.now().UTC())
	ended.Backchannel = len(ds)
	if err := s.store.EnqueueLogoutDeliveries(ctx, ds); err != nil {
		return nil, err
	}
	return ended, nil
}

// told wakes the deliverer and audits an ended session.
func (s *Sessions) told(ctx context.Context, actor, reason string, ended *EndedSession) {
	if ended.Backchannel > 0 {
		s.queued()
	}
	ids := make([]string, 0, len(ended.Clients))
	for _, c := range ended.Clients {
		ids = append(ids, c.ID)
	}
	s.audit.Record(ctx, audit.Event{
		Type: audit.SessionEnded, Actor: actor, Subject: audit.UserSubject(ended.Session.UserID), IP: reqctx.ClientIP(ctx),
		Details: map[string]string{
			"sid": ended.Session.SID, "reason": reason, "clients": strings.Join(ids, " "),
			"backchannel": strconv.Itoa(ended.Backchannel),
		},
	})
}

// clients loads the clients of ids, leaving out those deleted meanwhile.
func (s *Sessions) clients(ctx context.Context, ids []string) ([]*storage.Client, error) {
	out := make([]*storage.Client, 0, len(ids))
	for _, id := range ids {
		c, err := s.store.ClientByID(ctx, id)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}
