package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/carbon-dash/mangrove-dashboard/forms"
	"github.com/carbon-dash/mangrove-dashboard/generation"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
	"github.com/carbon-dash/mangrove-dashboard/taskstream"
	"github.com/carbon-dash/mangrove-dashboard/views"
	"github.com/carbon-dash/mangrove-dashboard/watcher"
)

// pageError is an error with a page to show: a status, a heading, a message
// the user can act on, and optionally a link.
type pageError struct {
	Status    int
	Heading   string
	Message   string
	Action    string
	ActionURL string
}

func (e *pageError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Heading, e.Message) }

var errSignedOut = &pageError{
	Status:    http.StatusUnauthorized,
	Heading:   "Please sign in",
	Message:   "Your session has ended or was never started. Sign in with your Mangrove API token.",
	Action:    "Sign in",
	ActionURL: "/signin",
}

// The named page errors handlers return.

func notFound(what string) *pageError {
	return &pageError{Status: http.StatusNotFound, Heading: "Not found", Message: what, Action: "Back to ledgers", ActionURL: views.LedgersPath()}
}

func unreadableForm(ledgerID string) *pageError {
	return &pageError{Status: http.StatusBadRequest, Heading: "Unreadable form", Message: "The form could not be read. Go back and submit it again.", Action: "Back to the form", ActionURL: views.GeneratePath(ledgerID)}
}

func noModel(e *generation.NoModelError) *pageError {
	return &pageError{Status: http.StatusUnprocessableEntity, Heading: "No model on this ledger",
		Message: "“" + e.LedgerName + "” has no linked model, so Mangrove cannot generate batches on it. Link a model to the ledger in Mangrove first.",
		Action:  "Back to the ledger", ActionURL: views.LedgerPath(e.LedgerID)}
}

func expiredConfirmation(ledgerID string, f forms.GenerationForm) *pageError {
	v := url.Values{}
	v.Set("start_time", f.StartTime)
	v.Set("end_time", f.EndTime)
	return &pageError{Status: http.StatusConflict, Heading: "This confirmation is no longer valid",
		Message: "The confirmation expired, was made for other parameters or by another user. Nothing was started. Preview the generation again to get a fresh confirmation.",
		Action:  "Preview again", ActionURL: views.GeneratePath(ledgerID) + "?" + v.Encode()}
}

func generationRefused(ledgerID, reason string) *pageError {
	return &pageError{Status: http.StatusConflict, Heading: "This generation was refused",
		Message: "This confirmation was already used and Mangrove refused it: " + reason + ". Nothing was started.",
		Action:  "Back to the ledger", ActionURL: views.LedgerPath(ledgerID)}
}

// generationBusy: Mangrove answered 409, a generation already runs on the
// ledger; nothing started. (Pages that can show the preview again do so.)
func generationBusy(ledgerID, reason string) *pageError {
	return &pageError{Status: http.StatusConflict, Heading: "A generation is already running",
		Message: "Mangrove did not start this generation: " + sentence(reason) + " Nothing was started. Wait for the running generation to finish, then preview again.",
		Action:  "Back to the ledger", ActionURL: views.LedgerPath(ledgerID)}
}

// sentence ends a message from the API with a full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasSuffix(s, ".") || strings.HasSuffix(s, "!") || strings.HasSuffix(s, "?") {
		return s
	}
	return s + "."
}

func unknownOutcome(ledgerID string) *pageError {
	return &pageError{Status: http.StatusBadGateway, Heading: "Outcome unknown: check the ledger",
		Message: "Mangrove did not answer in time, so we cannot tell whether the generation started. It was not retried, to avoid generating twice. Check the ledger's newest batches and the generation history before trying again.",
		Action:  "Check the ledger's batches", ActionURL: views.LedgerPath(ledgerID) + "?sort=-created_at"}
}

func nothingToGenerate(ledgerID string, f forms.GenerationForm) *pageError {
	return &pageError{Status: http.StatusConflict, Heading: "Nothing to generate",
		Message: "The preview of this range counted no batches, so nothing was sent to Mangrove. Check the range and whether the required inputs have data in it.",
		Action:  "Back to the preview", ActionURL: previewURL(ledgerID, f)}
}

func cannotGenerate(ledgerID string, f forms.GenerationForm) *pageError {
	return &pageError{Status: http.StatusForbidden, Heading: "Permission needed",
		Message: "Your token lacks Production Accounting write permission, so nothing was started. Ask your Mangrove administrator for a token with Production Accounting read and write access.",
		Action:  "Back to the preview", ActionURL: previewURL(ledgerID, f)}
}

func stillSubmitting() *pageError {
	return &pageError{Status: http.StatusAccepted, Heading: "Still being submitted",
		Message: "This confirmation is being submitted to Mangrove right now. Its task appears in the generation history as soon as Mangrove answers.",
		Action:  "Open the generation history", ActionURL: views.TasksPath()}
}

// handleError is the one place errors end: it picks a status and a page by
// the error's type, logs 5xx as errors and 4xx as warnings, and never shows
// err.Error() of an unexpected error to the user.
func (h *Handlers) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return // a stream already started, or the page was written
	}
	r := c.Request()
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the client went away
	}
	p := h.classify(err)
	if p.Status == http.StatusUnauthorized && h.identity.serverToken == "" && h.sessionToken(c) != "" {
		// The API rejected the signed-in token: sign out so the next page asks again.
		s := h.session(c)
		h.forgetSession(c, s)
		_ = h.saveSession(c, s)
	}
	reqID := RequestIDFromContext(r.Context())
	attrs := []any{"request_id", reqID, "method", r.Method, "path", r.URL.Path, "status", p.Status, "err", err}
	if p.Status >= 500 {
		h.log.Error("request failed", attrs...)
	} else {
		h.log.Warn("request refused", attrs...)
	}
	if r.Method == http.MethodHead {
		_ = c.NoContent(p.Status)
		return
	}
	if isEventStream(c) || isFragment(c) {
		_ = c.String(p.Status, p.Message)
		return
	}
	page := views.ErrorPage(views.ErrorPageProps{
		Layout:    h.layout(c, p.Heading, ""),
		Status:    p.Status,
		Heading:   p.Heading,
		Message:   p.Message,
		Action:    p.Action,
		ActionURL: p.ActionURL,
		RequestID: reqID,
	})
	if rerr := h.render(c, p.Status, page); rerr != nil {
		h.log.Error("rendering the error page failed", "request_id", reqID, "err", rerr)
		_ = c.String(http.StatusInternalServerError, "Something went wrong. Request id "+reqID)
	}
}

// classify maps an error to the page that explains it.
func (h *Handlers) classify(err error) *pageError {
	var pe *pageError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &pe):
		return pe
	case errors.As(err, &he):
		if p := httpErrorPage(he); p != nil {
			return p
		}
	case errors.Is(err, taskstream.ErrRetry):
		return &pageError{Status: http.StatusServiceUnavailable, Heading: "Try again",
			Message: "The task's progress could not be followed just now. Reload the page."}
	case errors.Is(err, watcher.ErrClosed):
		return &pageError{Status: http.StatusServiceUnavailable, Heading: "The dashboard is restarting",
			Message: "The dashboard is shutting down for a restart. Nothing was changed by this page; reload it in a few seconds.",
			Action:  "Try again", ActionURL: ""}
	}
	if e, ok := generation.IsNoModel(err); ok {
		return noModel(e)
	}
	if p := apiErrorPage(err); p != nil {
		return p
	}
	return &pageError{Status: http.StatusInternalServerError, Heading: "Something went wrong",
		Message: "The dashboard hit an unexpected error. It has been logged; quote the request id below when you report it.",
		Action:  "Back to ledgers", ActionURL: views.LedgersPath()}
}

// apiErrorPage explains an error of the Mangrove API, or is nil.
func apiErrorPage(err error) *pageError {
	switch {
	case errors.Is(err, mangrove.ErrUnauthorized):
		return &pageError{Status: http.StatusUnauthorized, Heading: "Please sign in again",
			Message: "Mangrove did not accept your API token (it may have been revoked or expired). Sign in again with a valid token.",
			Action:  "Sign in", ActionURL: "/signin"}
	case errors.Is(err, mangrove.ErrForbidden):
		return &pageError{Status: http.StatusForbidden, Heading: "Permission needed",
			Message: "Your token lacks Production Accounting write permission. Ask your Mangrove administrator for a token with Production Accounting read and write access.",
			Action:  "Back to ledgers", ActionURL: views.LedgersPath()}
	case errors.Is(err, mangrove.ErrNotFound):
		return notFound("Mangrove has no such record, or your token cannot see it.")
	case errors.Is(err, mangrove.ErrValidation) || errors.Is(err, mangrove.ErrBadRequest):
		msg := "Mangrove did not accept the request."
		var apiErr *mangrove.APIError
		if errors.As(err, &apiErr) && apiErr.Message != "" {
			msg = "Mangrove did not accept the request: " + apiErr.Message
		}
		return &pageError{Status: http.StatusUnprocessableEntity, Heading: "Request not accepted", Message: msg, Action: "Back to ledgers", ActionURL: views.LedgersPath()}
	case errors.Is(err, mangrove.ErrConflict):
		msg := "Mangrove refused the request: it conflicts with something in progress (a generation already running on the ledger, say). Nothing was changed by this page; try again once it has finished."
		var apiErr *mangrove.APIError
		if errors.As(err, &apiErr) && apiErr.Message != "" {
			msg = "Mangrove refused the request: " + sentence(apiErr.Message) + " Nothing was changed by this page; try again once what is in progress has finished."
		}
		return &pageError{Status: http.StatusConflict, Heading: "Not possible right now", Message: msg, Action: "Back to ledgers", ActionURL: views.LedgersPath()}
	case errors.Is(err, mangrove.ErrRateLimited), errors.Is(err, mangrove.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return &pageError{Status: http.StatusServiceUnavailable, Heading: "Mangrove is unavailable",
			Message: "Mangrove is unavailable or busy right now. Nothing was changed by this page; try again in a minute.",
			Action:  "Try again", ActionURL: ""}
	}
	return nil
}

// httpErrorPage explains Echo's own errors below 500, or is nil.
func httpErrorPage(he *echo.HTTPError) *pageError {
	switch {
	case he.Code == http.StatusForbidden:
		return errCSRF
	case he.Code == http.StatusNotFound:
		return notFound("There is no page at this address.")
	case he.Code == http.StatusMethodNotAllowed:
		return &pageError{Status: he.Code, Heading: "Method not allowed", Message: "This address does not accept that kind of request.", Action: "Back to ledgers", ActionURL: views.LedgersPath()}
	case he.Code == http.StatusRequestEntityTooLarge:
		return &pageError{Status: he.Code, Heading: "Request too large", Message: "The form sent more data than the dashboard accepts.", Action: "Back to ledgers", ActionURL: views.LedgersPath()}
	case he.Code < http.StatusInternalServerError:
		return &pageError{Status: he.Code, Heading: http.StatusText(he.Code), Message: "The request could not be handled.", Action: "Back to ledgers", ActionURL: views.LedgersPath()}
	}
	return nil
}

func isEventStream(c echo.Context) bool {
	return c.Request().Header.Get("Accept") == "text/event-stream"
}

func isFragment(c echo.Context) bool {
	return c.Request().Header.Get("HX-Request") == "true"
}
