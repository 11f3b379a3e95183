package handlers_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
	"github.com/carbon-dash/mangrove-dashboard/mangrove"
)

// vnuJar finds the Nu HTML Checker: VNU_JAR names vnu.jar (.ci/run installs
// the npm package vnu-jar into a cache and sets it). Without it, or without
// java, the test skips, except under CI=true where it fails.
func vnuJar(t *testing.T) string {
	t.Helper()
	missing := func(why string) string {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true: %s", why)
		}
		t.Skip(why)
		return ""
	}
	if _, err := exec.LookPath("java"); err != nil {
		return missing("HTML validation needs java (apt-get install -y default-jre-headless)")
	}
	jar := os.Getenv("VNU_JAR")
	if jar == "" {
		return missing("HTML validation needs VNU_JAR, the path of vnu.jar from the npm package vnu-jar (see .ci/run)")
	}
	if _, err := os.Stat(jar); err != nil {
		return missing("VNU_JAR: " + err.Error())
	}
	return jar
}

// renderedPages walks the dashboard as a user would and returns every
// full page it served, by name.
func renderedPages(t *testing.T) map[string]string {
	t.Helper()
	app := testapp.Start(t, testapp.Options{StepDelay: 100 * time.Millisecond, PollInterval: time.Second})
	pages := map[string]string{}
	keep := func(name string, r testapp.Response, status int) {
		t.Helper()
		if r.Status != status {
			t.Fatalf("%s: status %d, want %d: %.300s", name, r.Status, status, r.Body)
		}
		pages[name] = r.Body
	}
	b := app.NewBrowser(t)
	keep("signin", b.Get("/signin"), http.StatusOK)
	keep("signin-error", b.Post("/signin", url.Values{"token": {"not-a-token"}}), http.StatusUnprocessableEntity)
	b.SignIn(app.Tokens.ReadWrite)
	keep("ledgers", b.Get("/ledgers"), http.StatusOK)
	id := app.LedgerByName(t, "Net Carbon Removal").ID
	keep("ledger", b.Get("/ledgers/"+id), http.StatusOK)
	keep("ledger-filter-errors", b.Get("/ledgers/"+id+"?page=-1&sort=x&state=%3Cb%3E"), http.StatusOK)
	for _, bt := range allBatches(t, app, id, mangrove.ListOptions{Sort: []string{"start_time"}}) {
		name := "batch-" + bt.State // one page per state: complete, error
		if _, done := pages[name]; !done {
			keep(name, b.Get("/batches/"+bt.ID+"?ledger="+id), http.StatusOK)
			keep(name+"-no-ledger", b.Get("/batches/"+bt.ID), http.StatusOK)
		}
	}
	keep("error-400", b.Get("/batches/bat_x?ledger=%3Cb%3E"), http.StatusBadRequest)
	for _, l := range mustLedgers(t, app) {
		if l.LatestModel == nil {
			keep("ledger-no-model", b.Get("/ledgers/"+l.ID), http.StatusOK)
			keep("generate-no-model", b.Get("/ledgers/"+l.ID+"/generate"), http.StatusUnprocessableEntity)
		}
	}
	keep("generate", b.Get("/ledgers/"+id+"/generate"), http.StatusOK)
	keep("generate-errors", b.Get("/ledgers/"+id+"/preview?"+url.Values{"start_time": {"2025-03-31"}, "end_time": {"soon"}}.Encode()), http.StatusUnprocessableEntity)
	r := b.Get("/ledgers/" + id + "/preview?" + url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-03-31"}}.Encode())
	keep("preview", r, http.StatusOK)
	keep("preview-gap", b.Get("/ledgers/"+id+"/preview?"+url.Values{"start_time": {"2023-01-01"}, "end_time": {"2023-01-31"}}.Encode()), http.StatusOK)
	r = b.Post("/ledgers/"+id+"/generations", formValues(t, r.Body, `form[action$="/generations"]`))
	if r.Status != http.StatusSeeOther {
		t.Fatalf("confirm: %d", r.Status)
	}
	keep("task-running", b.Get(r.Location), http.StatusOK)
	taskID, _ := strconv.ParseInt(strings.TrimPrefix(r.Location, "/tasks/"), 10, 64)
	app.WaitTask(t, app.Tokens.ReadWrite, taskID, 60*time.Second)
	keep("task-complete", b.Get(r.Location), http.StatusOK)
	keep("history", b.Get("/tasks"), http.StatusOK)
	keep("history-filtered", b.Get("/tasks?"+url.Values{"ledger": {id}, "state": {"complete"}, "user": {"Test User"}}.Encode()), http.StatusOK)
	keep("history-filter-errors", b.Get("/tasks?page=0&ledger=%3Cb%3E&state=running"), http.StatusOK)
	keep("history-no-match", b.Get("/tasks?state=failed"), http.StatusOK)
	keep("error-404", b.Get("/ledgers/lgr_doesnotexist"), http.StatusNotFound)
	keep("error-no-route", b.Get("/no/such/page"), http.StatusNotFound)

	ro := app.NewBrowser(t)
	ro.SignIn(app.Tokens.ReadOnly)
	r = ro.Get("/ledgers/" + id + "/preview?" + url.Values{"start_time": {"2025-01-01"}, "end_time": {"2025-01-31"}}.Encode())
	keep("error-403", ro.Post("/ledgers/"+id+"/generations", formValues(t, r.Body, `form[action$="/generations"]`)), http.StatusForbidden)
	keep("error-csrf", app.NewBrowser(t).PostRaw("/signin", url.Values{"token": {"x"}}), http.StatusForbidden)
	return pages
}

// TestPagesAreValidHTML runs the Nu HTML Checker (vnu.jar) over every page.
func TestPagesAreValidHTML(t *testing.T) {
	jar := vnuJar(t)
	pages := renderedPages(t)
	dir := t.TempDir()
	var files []string
	for name, body := range pages {
		f := filepath.Join(dir, name+".html")
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	sort.Strings(files)
	args := append([]string{"-jar", jar, "--errors-only", "--format", "json"}, files...)
	var stderr bytes.Buffer
	cmd := exec.Command("java", args...)
	cmd.Stderr = &stderr
	runErr := cmd.Run()
	var out struct {
		Messages []struct {
			Type     string `json:"type"`
			SubType  string `json:"subType"`
			URL      string `json:"url"`
			Line     int    `json:"lastLine"`
			Message  string `json:"message"`
			Extract  string `json:"extract"`
			Severity string `json:"severity"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(stderr.Bytes(), &out); err != nil {
		t.Fatalf("vnu output (%v): %v\n%.2000s", runErr, err, stderr.String())
	}
	for _, m := range out.Messages {
		if m.Type == "info" {
			continue
		}
		t.Errorf("%s:%d: %s: %s\n\t%s", filepath.Base(strings.TrimPrefix(m.URL, "file:")), m.Line, m.Type, m.Message, strings.TrimSpace(m.Extract))
	}
	if runErr != nil && len(out.Messages) == 0 {
		t.Fatalf("vnu failed without messages: %v", runErr)
	}
	t.Logf("vnu %s: %d pages checked, %d messages", filepath.Base(jar), len(files), len(out.Messages))
}
