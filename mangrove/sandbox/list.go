package sandbox

import (
	"database/sql"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Pagination, sorting and filtering shared by every list endpoint.

const (
	defaultPageSize = 10
	maxPageSize     = 100 // not documented upstream; the sandbox says so in its 400 message
)

type filterKind int

const (
	filterString filterKind = iota
	filterInt
	filterTime
)

type filterDef struct {
	col  string
	kind filterKind
	ops  []string // of eq, geq, leq
}

type listSpec struct {
	sorts        map[string]string    // API field -> SQL expression
	filters      map[string]filterDef // API field -> column
	defaultOrder string
	tiebreak     string // unique column that makes paging stable
}

type listQuery struct {
	page, size int
	where      []string
	args       []any
	order      string
}

var filterKey = regexp.MustCompile(`^filter\[([a-z_]+)\]\[([a-z]+)\]$`)

func badRequest(format string, args ...any) error {
	return &apiError{Status: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...)}
}

func keys[V any](m map[string]V) string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// parseList reads page, page_size, sort and filter[FIELD][OP]; anything it cannot use
// is a 400 that says what is allowed. Other parameters (response_mode...) are ignored.
func parseList(r *http.Request, spec listSpec) (*listQuery, error) {
	q := r.URL.Query()
	lq := &listQuery{page: 1, size: defaultPageSize}
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, badRequest("page must be a positive integer, got %q", v)
		}
		lq.page = n
	}
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, badRequest("page_size must be a positive integer, got %q", v)
		}
		if n > maxPageSize {
			return nil, badRequest("page_size must be at most %d (the sandbox's maximum), got %d", maxPageSize, n)
		}
		lq.size = n
	}
	var order []string
	if v, ok := q["sort"]; ok && strings.Join(v, "") != "" {
		for _, f := range strings.Split(strings.Join(v, ","), ",") {
			f = strings.TrimSpace(f)
			dir := "ASC"
			if strings.HasPrefix(f, "-") {
				f, dir = f[1:], "DESC"
			} else if strings.HasPrefix(f, "+") {
				f = f[1:]
			}
			col, ok := spec.sorts[f]
			if !ok {
				return nil, badRequest("cannot sort by %q; sort fields: %s (prefix - for descending)", f, keys(spec.sorts))
			}
			order = append(order, col+" "+dir)
		}
	}
	if len(order) == 0 && spec.defaultOrder != "" {
		order = append(order, spec.defaultOrder)
	}
	order = append(order, spec.tiebreak+" ASC")
	lq.order = strings.Join(order, ", ")

	params := make([]string, 0, len(q))
	for k := range q {
		params = append(params, k)
	}
	sort.Strings(params)
	for _, k := range params {
		if !strings.HasPrefix(k, "filter") {
			continue
		}
		m := filterKey.FindStringSubmatch(k)
		if m == nil {
			return nil, badRequest("malformed filter parameter %q; use filter[FIELD][OP] with OP eq, geq or leq", k)
		}
		def, ok := spec.filters[m[1]]
		if !ok {
			return nil, badRequest("cannot filter by %q; filter fields: %s", m[1], keys(spec.filters))
		}
		opOK := false
		for _, op := range def.ops {
			opOK = opOK || op == m[2]
		}
		if !opOK {
			return nil, badRequest("filter[%s] supports only %s", m[1], strings.Join(def.ops, ", "))
		}
		raw := q.Get(k)
		var arg any
		switch def.kind {
		case filterInt:
			n, err := strconv.ParseInt(raw, 10, 64)
			if err != nil {
				return nil, badRequest("%s must be an integer, got %q", k, raw)
			}
			arg = n
		case filterTime:
			t, dateOnly, err := parseAPITime(raw)
			if err != nil {
				return nil, badRequest("%s: %v", k, err)
			}
			if dateOnly && m[2] == "leq" {
				t = t.AddDate(0, 0, 1).Add(-time.Millisecond) // a bare date includes its whole day
			}
			arg = t.UnixMilli()
		default:
			arg = raw
		}
		sqlOp := map[string]string{"eq": "=", "geq": ">=", "leq": "<="}[m[2]]
		lq.where = append(lq.where, def.col+" "+sqlOp+" ?")
		lq.args = append(lq.args, arg)
	}
	return lq, nil
}

// whereSQL returns " AND cond AND cond" for the parsed filters.
func (lq *listQuery) whereSQL() string {
	if len(lq.where) == 0 {
		return ""
	}
	return " AND " + strings.Join(lq.where, " AND ")
}

func (lq *listQuery) offset() int { return (lq.page - 1) * lq.size }

// info builds the pagination block; total_pages = ceil(total_items / page_size).
func (lq *listQuery) info(items int, total int64) listInfoJSON {
	pages := (total + int64(lq.size) - 1) / int64(lq.size)
	in := listInfoJSON{Items: items, PageSize: lq.size, TotalItems: total, CurrentPage: lq.page, TotalPages: pages, Sort: []any{}, Filter: []any{}}
	if int64(lq.page) < pages {
		n := lq.page + 1
		in.NextPage = &n
	}
	if lq.page > 1 {
		p := lq.page - 1
		in.PreviousPage = &p
	}
	return in
}

// serveScopedList answers a list endpoint over the token's projects: the
// count and one page of sel's rows where alias.project_id is one of them (and
// the query's filters hold), each scanned by scan, wrapped in {data, info}.
func serveScopedList[T any](s *Server, w http.ResponseWriter, r *http.Request, p principal, lq *listQuery,
	table, alias, sel string, scan func(*sql.Rows) (T, error)) {
	ctx := r.Context()
	where := ` WHERE ` + alias + `.project_id ` + inProjects + lq.whereSQL()
	args := append([]any{p.projects()}, lq.args...)
	var total int64
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+` `+alias+where, args...).Scan(&total); err != nil {
		s.fail(w, r, err)
		return
	}
	rows, err := s.db.QueryContext(ctx, sel+where+` ORDER BY `+lq.order+` LIMIT ? OFFSET ?`, append(args, lq.size, lq.offset())...)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listJSON[T]{Data: out, Info: lq.info(len(out), total)})
}
