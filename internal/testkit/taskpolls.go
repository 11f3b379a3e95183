package testkit

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TaskPolls records when each async task was asked for (GET
// /api/v1/async_tasks/{id}) through the API handler it wraps: what the
// tests and benchmarks of task polling count upstream.
type TaskPolls struct {
	mu    sync.Mutex
	polls map[int64][]time.Time
}

// Wrap records next's task polls as they arrive.
func (l *TaskPolls) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			if s, ok := strings.CutPrefix(r.URL.Path, "/api/v1/async_tasks/"); ok {
				if id, err := strconv.ParseInt(s, 10, 64); err == nil {
					now := time.Now()
					l.mu.Lock()
					if l.polls == nil {
						l.polls = map[int64][]time.Time{}
					}
					l.polls[id] = append(l.polls[id], now)
					l.mu.Unlock()
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Between counts the polls of task id that arrived in [from, to).
func (l *TaskPolls) Between(id int64, from, to time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, at := range l.polls[id] {
		if !at.Before(from) && at.Before(to) {
			n++
		}
	}
	return n
}

// MaxGap is the longest time between two consecutive polls of task id in
// [from, to), counting from the last poll before the window.
func (l *TaskPolls) MaxGap(id int64, from, to time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var gap time.Duration
	var prev time.Time
	for _, at := range l.polls[id] {
		if at.Before(to) && !prev.IsZero() && !at.Before(from) {
			gap = max(gap, at.Sub(prev))
		}
		prev = at
	}
	return gap
}

// FirstAfter is the first poll of task id that arrived after t.
func (l *TaskPolls) FirstAfter(id int64, t time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, at := range l.polls[id] {
		if at.After(t) {
			return at, true
		}
	}
	return time.Time{}, false
}
