package handlers

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/store"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/views"
)

// The session cookie carries the user's token, encrypted and signed, and a
// session id that must match a row of the store's sessions (see
// store/sessions.go), so that signing out ends the session for good; these
// accessors are the only places that know its keys.
const (
	sessionName  = "mgd_session"
	keyToken     = "token"
	keySessionID = "sid"
	keyUser      = "user"
	keyFlashes   = "flashes"
	// SessionMaxAge is how long a sign-in lasts, in seconds.
	SessionMaxAge = 12 * 60 * 60

	// flashesShownKey marks a request whose page takes flashes out of the
	// session: the page must save it.
	flashesShownKey = "flashes_shown"
)

// session returns the request's session. A tampered, expired or foreign
// cookie decodes to a new, empty session, and so does one whose session id
// was ended (signed out) or never issued: the user is signed out.
func (h *Handlers) session(c echo.Context) *sessions.Session {
	if s, ok := c.Get("session").(*sessions.Session); ok {
		return s
	}
	s, err := h.sessions.Get(c.Request(), sessionName)
	if err != nil {
		s, _ = h.sessions.New(c.Request(), sessionName)
		s.IsNew = true
		s.Values = map[any]any{}
	}
	if tok, _ := s.Values[keyToken].(string); tok != "" {
		sid, _ := s.Values[keySessionID].(string)
		active, err := h.store.SessionActive(c.Request().Context(), sid, mangrove.TokenHash(tok))
		if err != nil {
			h.log.Error("checking a session failed; treating it as signed out", "request_id", RequestIDFromContext(c.Request().Context()), "err", err)
		}
		if !active {
			s.Values = map[any]any{}
		}
	}
	c.Set("session", s)
	return s
}

// startSession makes s a fresh signed-in session for token, recorded in the
// store; whatever s held before is dropped.
func (h *Handlers) startSession(c echo.Context, s *sessions.Session, token string) error {
	h.forgetSession(c, s)
	sid, err := h.store.CreateSession(c.Request().Context(), mangrove.TokenHash(token), h.now().Add(SessionMaxAge*time.Second))
	if err != nil {
		return err
	}
	s.Values = map[any]any{keyToken: token, keySessionID: sid}
	return nil
}

// forgetSession ends s's server-side session, if it has one, with its open
// event streams, and removes the token from s: a copy of the cookie no
// longer signs anyone in.
func (h *Handlers) forgetSession(c echo.Context, s *sessions.Session) {
	if sid, _ := s.Values[keySessionID].(string); sid != "" {
		ctx := context.WithoutCancel(c.Request().Context())
		if err := h.store.EndSession(ctx, sid); err != nil {
			h.log.Error("ending a session failed", "request_id", RequestIDFromContext(ctx), "err", err)
		}
		idHash := store.SessionIDHash(sid)
		h.streamSlots.endSession(idHash)
		if h.fleet != nil { // other replicas end its streams too
			actx, cancel := context.WithTimeout(ctx, signOutAnnounceTimeout)
			if err := h.fleet.AnnounceSessionEnded(actx, idHash); err != nil {
				h.log.Warn("telling the other replicas of a sign-out failed; its streams there end when they reconnect",
					"request_id", RequestIDFromContext(ctx), "err", err)
			}
			cancel()
		}
	}
	delete(s.Values, keyToken)
	delete(s.Values, keySessionID)
}

// EndSessionStreams ends this replica's open event streams of the session
// whose id hashes to idHash: another replica signed it out.
func (h *Handlers) EndSessionStreams(idHash string) { h.streamSlots.endSession(idHash) }

func (h *Handlers) saveSession(c echo.Context, s *sessions.Session) error {
	s.Options = h.cookieOptions(c, SessionMaxAge)
	return s.Save(c.Request(), c.Response())
}

// endSession ends the session on the server, empties it and tells the
// browser to drop the cookie.
func (h *Handlers) endSession(c echo.Context) error {
	s := h.session(c)
	h.forgetSession(c, s)
	s.Values = map[any]any{}
	s.Options = h.cookieOptions(c, -1)
	return s.Save(c.Request(), c.Response())
}

func (h *Handlers) cookieOptions(c echo.Context, maxAge int) *sessions.Options {
	return &sessions.Options{
		Path:     "/",
		MaxAge:   maxAge,
		Secure:   c.Scheme() == "https",
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
}

// sessionID is the id of the request's signed-in session, or "" (signed
// out, or a server-wide token with no sign-in).
func (h *Handlers) sessionID(c echo.Context) string {
	sid, _ := h.session(c).Values[keySessionID].(string)
	return sid
}

// sessionToken is the token the user signed in with, or "".
func (h *Handlers) sessionToken(c echo.Context) string {
	t, _ := h.session(c).Values[keyToken].(string)
	return t
}

// currentToken is the token API calls are made with: the server-wide token
// when one is configured, else the user's own.
func (h *Handlers) currentToken(c echo.Context) string {
	if h.identity.serverToken != "" {
		return h.identity.serverToken
	}
	return h.sessionToken(c)
}

// userLabel names the user in the audit log and the header.
func (h *Handlers) userLabel(c echo.Context) string {
	if u, _ := h.session(c).Values[keyUser].(string); u != "" {
		return u
	}
	if h.identity.serverToken != "" {
		return h.proxyUserOr(c, "shared token")
	}
	return "token " + mangrove.TokenHash(h.currentToken(c))[:tokenLabelLen]
}

// tokenLabelLen is how much of a token's hash names a user who gave no name.
const tokenLabelLen = 8

// addFlash queues a message for the next page; the caller saves the session
// (redirect does it through flashAndRedirect).
func (h *Handlers) flashAndRedirect(c echo.Context, kind, msg, to string) error {
	s := h.session(c)
	s.AddFlash(kind+"|"+msg, keyFlashes)
	if err := h.saveSession(c, s); err != nil {
		return err
	}
	return redirect(c, to)
}

// flashStarted is the kind of the flash announcing a started generation:
// shown as a success while the task runs (views.Flash.WhileRunning).
const flashStarted = "started"

// withoutWhileRunning drops the flashes a finished task's state overtakes.
func withoutWhileRunning(fs []views.Flash) []views.Flash {
	return slices.DeleteFunc(fs, func(f views.Flash) bool { return f.WhileRunning })
}

// popFlashes takes the queued messages out of the session, and marks the
// session for saving with the page that shows them (render does it).
func (h *Handlers) popFlashes(c echo.Context) []views.Flash {
	s := h.session(c)
	raw := s.Flashes(keyFlashes)
	if len(raw) == 0 {
		return nil
	}
	c.Set(flashesShownKey, true)
	out := make([]views.Flash, 0, len(raw))
	for _, r := range raw {
		str, _ := r.(string)
		kind, msg, ok := strings.Cut(str, "|")
		if !ok {
			continue
		}
		f := views.Flash{Kind: kind, Message: msg}
		if kind == flashStarted {
			f.Kind, f.WhileRunning = "success", true
		}
		out = append(out, f)
	}
	return out
}

// budgetWarning is shown on every page while the token's quota is nearly spent.
var budgetWarning = fmt.Sprintf("Under %d%% of this minute's Mangrove API requests are left for your token: "+
	"pages may load slowly, and live progress may pause, until the quota renews within the minute.", mangrove.LowBudgetPercent)

// layout builds what every page shares; the flashes it shows leave the
// session when the page is rendered.

func (h *Handlers) layout(c echo.Context, title, nav string) views.Layout {
	token := h.currentToken(c)
	l := views.Layout{
		Title:      title,
		Nav:        nav,
		SignedIn:   token != "",
		CanSignOut: h.identity.serverToken == "" && token != "",
		CSRF:       csrfToken(c),
		Sandbox:    h.identity.sandbox != nil,
	}
	if token != "" {
		l.UserLabel = h.userLabel(c)
		l.ReadOnly = h.generation.ReadOnly(token)
		if h.budget != nil && h.budget.BudgetLow(token) {
			l.BudgetWarning = budgetWarning
		}
	}
	l.Flashes = h.popFlashes(c)
	return l
}
