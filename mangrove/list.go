package mangrove

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Filter operators documented by the API.
const (
	OpEq  = "eq"
	OpGeq = "geq"
	OpLeq = "leq"
)

// ListOptions selects a page of a list endpoint. Zero values are left out of the query,
// so the API's defaults apply (page 1, 10 per page).
type ListOptions struct {
	Page     int
	PageSize int
	Sort     []string // field names, "-" prefix for descending, e.g. "-created_at"
	Filters  []Filter
}

// Filter is one filter[Field][Op]=Value query parameter. Op is one of OpEq, OpGeq,
// OpLeq; an empty Op means OpEq.
type Filter struct {
	Field, Op, Value string
}

// query encodes the options. An invalid filter is refused rather than sent, because a
// malformed key would be silently ignored by the API and return unfiltered data.
func (o ListOptions) query() (url.Values, error) {
	q := url.Values{}
	if o.Page > 0 {
		q.Set("page", strconv.Itoa(o.Page))
	}
	if o.PageSize > 0 {
		q.Set("page_size", strconv.Itoa(o.PageSize))
	}
	var sort []string
	for _, s := range o.Sort {
		if s = strings.TrimSpace(s); s != "" {
			sort = append(sort, s)
		}
	}
	if len(sort) > 0 {
		q.Set("sort", strings.Join(sort, ","))
	}
	for _, f := range o.Filters {
		op := f.Op
		if op == "" {
			op = OpEq
		}
		if op != OpEq && op != OpGeq && op != OpLeq {
			return nil, fmt.Errorf("mangrove: filter on %q: unsupported operator %q", f.Field, f.Op)
		}
		if f.Field == "" || strings.ContainsAny(f.Field, "[]") {
			return nil, fmt.Errorf("mangrove: invalid filter field %q", f.Field)
		}
		q.Add("filter["+f.Field+"]["+op+"]", f.Value)
	}
	return q, nil
}

// List is the envelope of list endpoints. Info is nil when the response carries none,
// as required_inputs, generate_preview and some /ledgers answers do.
type List[T any] struct {
	Data []T   `json:"data"`
	Info *Info `json:"info"`
}

// NextPageAfter is the page to read after page, and false on the last one:
// when the list names no next page, is empty, or names a page that does not
// move forward (an API that repeats a page must not loop a reader forever).
func (l *List[T]) NextPageAfter(page int) (int, bool) {
	if l == nil || l.Info == nil || l.Info.NextPage == nil || *l.Info.NextPage <= page || len(l.Data) == 0 {
		return 0, false
	}
	return *l.Info.NextPage, true
}

// Info is the pagination block of a list response.
type Info struct {
	Items        int               `json:"items"` // on this page
	PageSize     int               `json:"page_size"`
	TotalItems   int               `json:"total_items"`
	CurrentPage  int               `json:"current_page"`
	NextPage     *int              `json:"next_page"`     // nil on the last page
	PreviousPage *int              `json:"previous_page"` // nil on the first page
	TotalPages   int               `json:"total_pages"`
	Sort         []json.RawMessage `json:"sort"`
	Filter       []json.RawMessage `json:"filter"`
}

var errEmptyBody = errors.New("empty response body")

// decodeObject decodes a bare object, or one wrapped as {"data": {...}}: the docs show
// the bare form, and accepting the wrapped one costs nothing if a server uses it.
func decodeObject[T any](body []byte) (*T, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, errEmptyBody
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(body, &probe); err != nil {
		return nil, err
	}
	if probe == nil {
		return nil, errors.New("response body is null")
	}
	if inner, ok := probe["data"]; ok {
		if _, hasID := probe["id"]; !hasID && bytes.HasPrefix(bytes.TrimSpace(inner), []byte("{")) {
			body = inner
		}
	}
	v := new(T)
	if err := json.Unmarshal(body, v); err != nil {
		return nil, err
	}
	return v, nil
}

// decodeList decodes a {"data": [...], "info": {...}} envelope, or a bare array.
func decodeList[T any](body []byte) (*List[T], error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, errEmptyBody
	}
	l := &List[T]{}
	if body[0] == '[' {
		if err := json.Unmarshal(body, &l.Data); err != nil {
			return nil, err
		}
		return l, nil
	}
	if err := json.Unmarshal(body, l); err != nil {
		return nil, err
	}
	return l, nil
}

// nullToNil makes a JSON null held in a json.RawMessage read as absent, so callers test
// one thing (len == 0) instead of two.
func nullToNil(raw json.RawMessage) json.RawMessage {
	if t := bytes.TrimSpace(raw); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil
	}
	return raw
}
