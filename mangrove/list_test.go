package mangrove

import "testing"

func TestNextPageAfter(t *testing.T) {
	p := func(n int) *int { return &n }
	one := []int{1}
	tests := []struct {
		name     string
		list     *List[int]
		page     int
		wantNext int
		wantOK   bool
	}{
		{"Next", &List[int]{Data: one, Info: &Info{NextPage: p(3)}}, 2, 3, true},
		{"LastPage", &List[int]{Data: one, Info: &Info{}}, 2, 0, false},
		{"NoInfo", &List[int]{Data: one}, 1, 0, false},
		{"EmptyPage", &List[int]{Info: &Info{NextPage: p(2)}}, 1, 0, false},
		{"SamePageAgain", &List[int]{Data: one, Info: &Info{NextPage: p(2)}}, 2, 0, false},
		{"Backwards", &List[int]{Data: one, Info: &Info{NextPage: p(1)}}, 2, 0, false},
		{"NilList", nil, 1, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, ok := tt.list.NextPageAfter(tt.page)
			if next != tt.wantNext || ok != tt.wantOK {
				t.Fatalf("NextPageAfter(%d) = %d, %v; want %d, %v", tt.page, next, ok, tt.wantNext, tt.wantOK)
			}
		})
	}
}
