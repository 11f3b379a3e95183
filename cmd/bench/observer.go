package main

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// taskObserver wraps the sandbox's handler: it counts the answers to
// GET /api/v1/async_tasks/{id} by status and by task, and records when each
// "Processing batch i of n" of a task was first served.
type taskObserver struct {
	mu       sync.Mutex
	statuses map[int]int
	polls    map[int64]int
	served   map[int64]map[int]time.Time
}

func newTaskObserver() *taskObserver {
	return &taskObserver{statuses: map[int]int{}, polls: map[int64]int{}, served: map[int64]map[int]time.Time{}}
}

type teeWriter struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
}

func (w *teeWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *teeWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.buf.Write(p)
	return w.ResponseWriter.Write(p)
}

func (o *taskObserver) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, "/api/v1/async_tasks/")
		if !ok || r.Method != http.MethodGet {
			next.ServeHTTP(w, r)
			return
		}
		id, _ := strconv.ParseInt(rest, 10, 64)
		tw := &teeWriter{ResponseWriter: w}
		next.ServeHTTP(tw, r)
		now := time.Now()
		step, hasStep := stepOf(tw.buf.Bytes())
		o.mu.Lock()
		defer o.mu.Unlock()
		o.statuses[tw.status]++
		o.polls[id]++
		if hasStep && tw.status == http.StatusOK {
			m := o.served[id]
			if m == nil {
				m = map[int]time.Time{}
				o.served[id] = m
			}
			if _, seen := m[step]; !seen {
				m[step] = now
			}
		}
	})
}

func (o *taskObserver) status(code int) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.statuses[code]
}

// servedAt returns when step of task was first served.
func (o *taskObserver) servedAt(task int64, step int) (time.Time, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	t, ok := o.served[task][step]
	return t, ok
}
