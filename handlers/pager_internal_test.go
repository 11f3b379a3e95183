package handlers

import (
	"testing"

	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// TestPager: the batch list's pager reads info's total_pages and
// next_page, divides total_items by the page size only without
// total_pages, and lets next_page decide where info contradicts itself.
func TestPager(t *testing.T) {
	n := func(v int) *int { return &v }
	batches := func(k int) []mangrove.Batch { return make([]mangrove.Batch, k) }
	tests := []struct {
		name            string
		list            *mangrove.List[mangrove.Batch]
		page, size      int
		wantPage, total int
		items           int
		wantNext        bool
	}{
		{"NoInfo", &mangrove.List[mangrove.Batch]{Data: batches(25)}, 1, 25, 1, 1, 25, false},
		{"NoInfoLaterPage", &mangrove.List[mangrove.Batch]{Data: batches(3)}, 3, 25, 3, 3, 3, false},
		{"NilList", nil, 1, 25, 1, 1, 0, false},
		{"TotalPages", &mangrove.List[mangrove.Batch]{Data: batches(25), Info: &mangrove.Info{
			TotalItems: 60, CurrentPage: 1, NextPage: n(2), TotalPages: 3}}, 1, 25, 1, 3, 60, true},
		{"LastPage", &mangrove.List[mangrove.Batch]{Data: batches(10), Info: &mangrove.Info{
			TotalItems: 60, CurrentPage: 3, TotalPages: 3}}, 3, 25, 3, 3, 60, false},
		// The API paged by another size than asked (a capped page_size):
		// its total_pages is right, the division by the asked size is not.
		{"TotalPagesNotDivision", &mangrove.List[mangrove.Batch]{Data: batches(10), Info: &mangrove.Info{
			TotalItems: 60, PageSize: 10, CurrentPage: 1, NextPage: n(2), TotalPages: 6}}, 1, 25, 1, 6, 60, true},
		{"NoTotalPagesDivides", &mangrove.List[mangrove.Batch]{Data: batches(25), Info: &mangrove.Info{
			TotalItems: 60, CurrentPage: 1, NextPage: n(2)}}, 1, 25, 1, 3, 60, true},
		{"CurrentPageFromInfo", &mangrove.List[mangrove.Batch]{Data: batches(25), Info: &mangrove.Info{
			TotalItems: 60, CurrentPage: 2, NextPage: n(3), TotalPages: 3}}, 5, 25, 2, 3, 60, true},
		// The Pagination page's own example: 15 items, 10 a page,
		// next_page 2 but total_pages 1. The next page is offered.
		{"NextPageBeyondTotal", &mangrove.List[mangrove.Batch]{Data: batches(10), Info: &mangrove.Info{
			Items: 10, PageSize: 10, TotalItems: 15, CurrentPage: 1, NextPage: n(2), TotalPages: 1}}, 1, 10, 1, 2, 15, true},
		// next_page null says this is the last page, whatever total_pages says.
		{"NoNextBeforeTotal", &mangrove.List[mangrove.Batch]{Data: batches(25), Info: &mangrove.Info{
			TotalItems: 75, CurrentPage: 1, TotalPages: 3}}, 1, 25, 1, 1, 75, false},
		// A next_page that does not move forward is no next page.
		{"NextPageBackwards", &mangrove.List[mangrove.Batch]{Data: batches(25), Info: &mangrove.Info{
			TotalItems: 75, CurrentPage: 2, NextPage: n(2), TotalPages: 3}}, 2, 25, 2, 2, 75, false},
		{"EmptyPageNoNext", &mangrove.List[mangrove.Batch]{Info: &mangrove.Info{
			TotalItems: 75, CurrentPage: 2, NextPage: n(3), TotalPages: 3}}, 2, 25, 2, 2, 75, false},
		// A page past the end keeps the API's count, with no next page.
		{"PastTheEnd", &mangrove.List[mangrove.Batch]{Info: &mangrove.Info{
			TotalItems: 60, CurrentPage: 9, TotalPages: 3}}, 9, 25, 9, 3, 60, false},
		{"Empty", &mangrove.List[mangrove.Batch]{Info: &mangrove.Info{CurrentPage: 1}}, 1, 25, 1, 1, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pager(tt.list, tt.page, tt.size, func(int) string { return "" })
			// PagerNav links the next page when Page < TotalPages.
			if p.Page != tt.wantPage || p.TotalPages != tt.total || p.TotalItems != tt.items || (p.Page < p.TotalPages) != tt.wantNext {
				t.Errorf("pager page %d of %d, %d items, next %v; want page %d of %d, %d items, next %v",
					p.Page, p.TotalPages, p.TotalItems, p.Page < p.TotalPages, tt.wantPage, tt.total, tt.items, tt.wantNext)
			}
		})
	}
}
