package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/templates"
)

// PathAccountSessions is the page of a person's sign-in sessions.
const PathAccountSessions = "/account/sessions"

// noSession answers (404) ending a session the person does not have.
const noSession = "There is no such session among yours; it may have ended already."

// accountSessions lists where the person is signed in.
func (h *Handler) accountSessions(c echo.Context) error {
	signedIn, err := h.accountLogin(c)
	if signedIn == nil {
		return err
	}
	return h.renderAccountSessions(c, signedIn, http.StatusOK, "")
}

func (h *Handler) renderAccountSessions(c echo.Context, signedIn *provider.Login, status int, message string) error {
	views, err := h.login.Sessions().List(c.Request().Context(), signedIn.User.ID)
	if err != nil {
		return err
	}
	data := &templates.AccountSessionsData{
		Common: h.common(c, "Where you are signed in"), UserEmail: signedIn.User.Email, Message: message,
	}
	for _, v := range views {
		s := templates.AccountSession{
			SID: v.Session.SID, UserAgent: v.Session.UserAgent, IP: v.Session.IP,
			SignedIn: humanTime(v.Session.CreatedAt), Current: v.Session.ID == signedIn.Session.ID,
		}
		for _, cl := range v.Clients {
			name := cl.Name
			if name == "" {
				name = cl.ID
			}
			s.Apps = append(s.Apps, name)
		}
		data.Sessions = append(data.Sessions, s)
	}
	return h.render(c, status, "account_sessions", data)
}

// accountEndSession ends one of the person's sessions: its apps are told
// through the back channel. Ending this browser's own session is signing
// out here: the browser also loads the apps' front-channel logout pages.
func (h *Handler) accountEndSession(c echo.Context) error {
	signedIn, err := h.accountLogin(c)
	if signedIn == nil {
		return err
	}
	ctx := c.Request().Context()
	sid := c.FormValue("sid")
	if !validID(sid) {
		return h.renderAccountSessions(c, signedIn, http.StatusNotFound, noSession)
	}
	sessions := h.login.Sessions()
	ls, err := sessions.FindBySID(ctx, signedIn.User.ID, sid)
	if errors.Is(err, storage.ErrNotFound) {
		return h.renderAccountSessions(c, signedIn, http.StatusNotFound, noSession)
	} else if err != nil {
		return err
	}
	current := ls.ID == signedIn.Session.ID
	reason := audit.SessionEndedByUser
	if current {
		reason = audit.SessionEndedByLogout
	}
	ended, err := sessions.End(ctx, ls, audit.UserSubject(signedIn.User.ID), reason)
	if errors.Is(err, storage.ErrNotFound) {
		return h.renderAccountSessions(c, signedIn, http.StatusNotFound, noSession)
	} else if err != nil {
		return err
	}
	if current {
		h.clearSessionCookie(c)
		return h.finishLogout(c, &logoutRequest{}, ended)
	}
	return h.renderAccountSessions(c, signedIn, http.StatusOK, "The session was ended; its apps were told to sign you out.")
}
