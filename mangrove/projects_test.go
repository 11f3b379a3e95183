package mangrove

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

func TestProjects(t *testing.T) {
	srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/projects" || r.URL.Query().Get("page_size") != "100" {
			t.Errorf("unexpected request %s", r.URL)
		}
		switch r.URL.Query().Get("page") {
		case "1":
			writeJSON(w, 200, `{"data":[{"id":123,"name":"Southeast Capture Project","project_type":"Biochar","created_at":"2024-01-02T03:04:05Z"}],
				"info":{"items":1,"page_size":100,"total_items":2,"current_page":1,"next_page":2,"previous_page":null,"total_pages":2}}`)
		default:
			writeJSON(w, 200, `{"data":[{"id":124,"name":"Second"}],
				"info":{"items":1,"page_size":100,"total_items":2,"current_page":2,"next_page":null,"previous_page":1,"total_pages":2}}`)
		}
	})
	c, _ := newTestClient(t, srv.baseURL())
	ps, err := c.Projects(context.Background(), testToken)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].ID != 123 || ps[0].Name != "Southeast Capture Project" || ps[1].ID != 124 {
		t.Fatalf("projects %+v", ps)
	}
}

func TestProjectsNotOffered(t *testing.T) {
	srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 404, `{"message":"Not found"}`)
	})
	c, _ := newTestClient(t, srv.baseURL())
	if _, err := c.Projects(context.Background(), testToken); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err %v, want ErrNotFound", err)
	}
}

// TestProjectModels: a project's models are read with the documented
// filter[project_id][eq], 100 a page, until the last page; the documented Model
// example decodes.
func TestProjectModels(t *testing.T) {
	srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/api/v1/models" || q.Get("filter[project_id][eq]") != "123" || q.Get("page_size") != "100" {
			t.Errorf("unexpected request %s", r.URL)
		}
		switch q.Get("page") {
		case "1":
			writeJSON(w, 200, `{"data":[{"id":"mdl_abc123def456","name":"Carbon Calculation Model","version":1,"is_latest":true,"cadence":"monthly","partition_type":"feedstock","order":1,"created_at":"2025-01-15T10:00:00.000Z","updated_at":"2025-01-15T10:00:00.000Z"}],
				"info":{"items":1,"page_size":100,"total_items":2,"current_page":1,"next_page":2,"previous_page":null,"total_pages":2}}`)
		default:
			writeJSON(w, 200, `{"data":[{"id":"mdl_xyz789abc123","name":"Carbon Calculation Model","version":2,"is_latest":true}],
				"info":{"items":1,"page_size":100,"total_items":2,"current_page":2,"next_page":null,"previous_page":1,"total_pages":2}}`)
		}
	})
	c, _ := newTestClient(t, srv.baseURL())
	ms, err := c.ProjectModels(context.Background(), testToken, 123)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].ID != "mdl_abc123def456" || ms[0].Version != 1 || !ms[0].IsLatest || Deref(ms[0].Cadence) != "monthly" || ms[1].ID != "mdl_xyz789abc123" {
		t.Fatalf("models %+v", ms)
	}
}
