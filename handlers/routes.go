package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/carbon-dash/mangrove-dashboard/static"
	"github.com/carbon-dash/mangrove-dashboard/views"
)

// maxBodySize bounds a request body; the largest form is well under it.
const maxBodySize = "1M"

// Register mounts every route of the dashboard on e: the one route table,
// read top to bottom.
func (h *Handlers) Register(e *echo.Echo) {
	e.HTTPErrorHandler = h.handleError
	h.configureProxies(e)
	e.Use(h.requestID, secureHeaders, h.countRequests, h.logRequests, h.recoverPanics, middleware.BodyLimit(maxBodySize), h.csrf)

	// Health, metrics and assets: no session needed.
	e.GET("/healthz", h.healthz)
	e.GET("/readyz", h.readyz)
	e.GET("/metrics", h.showMetrics)
	e.GET("/static/*", echo.WrapHandler(http.StripPrefix("/static/", static.Handler())))

	// Sign in and out.
	e.GET("/signin", h.showSignIn)
	e.POST("/signin", h.signIn)
	e.POST("/signout", h.signOut)

	// Everything below needs a Mangrove token.
	a := e.Group("", h.requireToken)
	a.GET("/", h.home)
	a.GET("/ledgers", h.showLedgers)
	a.GET("/ledgers/:id", h.showLedger)
	a.GET("/ledgers/:id/batches.csv", h.exportBatches)
	a.GET("/ledgers/:id/generate", h.showGenerationForm)
	a.GET("/ledgers/:id/preview", h.previewGeneration)
	a.POST("/ledgers/:id/preview", h.redirectToPreview)
	a.POST("/ledgers/:id/generations", h.confirmGeneration)
	a.GET("/batches/:id", h.showBatch)
	a.GET("/tasks", h.showHistory)
	a.GET("/tasks.csv", h.exportHistory)
	a.GET("/tasks/:id", h.showTask)
	a.GET("/tasks/:id/batches", h.showTaskBatches)
	a.GET("/tasks/:id/events", h.streamTaskEvents)

	h.rememberRoutes(e)
}

func (h *Handlers) healthz(c echo.Context) error {
	return c.String(http.StatusOK, "ok\n")
}

func (h *Handlers) home(c echo.Context) error {
	return c.Redirect(http.StatusSeeOther, views.LedgersPath())
}
