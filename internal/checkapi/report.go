package checkapi

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Status is the outcome of one check: the first four are for fields, the
// last three for behaviour.
type Status int

// Outcomes of a check.
const (
	Present Status = iota
	Missing
	WrongType
	Holds
	DoesNotHold
	CouldNotTell
)

func (s Status) String() string {
	return [...]string{"present", "missing", "wrong type", "holds", "does not hold", "could not tell"}[s]
}

// bad says whether s is a finding (something is not as the dashboard expects).
func (s Status) bad() bool { return s == Missing || s == WrongType || s == DoesNotHold }

// Basis says where what a row checks comes from.
type Basis int

// Bases of a check.
const (
	Documented Basis = iota // in the API reference
	Guess                   // not documented: the dashboard assumes it
)

func (b Basis) String() string { return [...]string{"documented", "guess"}[b] }

// Row is one line of the report.
type Row struct {
	Endpoint string // e.g. "GET /ledgers/{id}/batches"
	Check    string // a field path or a behaviour
	Basis    Basis
	Needed   bool // when bad, the dashboard is broken (else it is degraded or unaffected)
	Status   Status
	Note     string
}

// Broken says whether the row is a finding the dashboard cannot live with.
func (r Row) Broken() bool { return r.Needed && r.Status.bad() }

// Report is the outcome of a check run.
type Report struct {
	BaseURL  string
	Rows     []Row
	Requests int // GET requests sent
}

// OK says whether nothing the dashboard needs is broken.
func (r *Report) OK() bool { return len(r.Broken()) == 0 }

// Broken lists the rows the dashboard cannot live with.
func (r *Report) Broken() []Row {
	var out []Row
	for _, row := range r.Rows {
		if row.Broken() {
			out = append(out, row)
		}
	}
	return out
}

// Print writes the table, a count, and a last line saying OK or naming
// what is broken.
func (r *Report) Print(w io.Writer) error {
	fmt.Fprintf(w, "Mangrove API check: %s (read-only: GET requests only)\n\n", r.BaseURL)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ENDPOINT\tCHECK\tBASIS\tDASHBOARD\tRESULT\tNOTE")
	advisory, unknown := 0, 0
	for _, row := range r.Rows {
		need := "needs it"
		if !row.Needed {
			need = "copes"
		}
		result := row.Status.String()
		switch {
		case row.Broken():
			result = "BROKEN: " + result
		case row.Status.bad():
			advisory++
		case row.Status == CouldNotTell:
			unknown++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", row.Endpoint, row.Check, row.Basis, need, result, oneLine(row.Note))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	broken := r.Broken()
	fmt.Fprintf(w, "\n%s, %s: %d broken, %s the dashboard copes with, %d could not tell.\n",
		plural(len(r.Rows), "check"), plural(r.Requests, "GET request"), len(broken), plural(advisory, "finding"), unknown)
	if len(broken) == 0 {
		_, err := fmt.Fprintln(w, "OK: nothing the dashboard needs is broken.")
		return err
	}
	names := make([]string, len(broken))
	for i, row := range broken {
		names[i] = fmt.Sprintf("%s %s (%s)", row.Endpoint, row.Check, row.Status)
		if row.Check == answers && row.Note != "" { // why it did not answer: a 401 is not a 404
			names[i] = fmt.Sprintf("%s %s (%s: %s)", row.Endpoint, row.Check, row.Status, clip(oneLine(row.Note), 80))
		}
	}
	_, err := fmt.Fprintf(w, "FAIL: the dashboard needs what is broken: %s\n", strings.Join(names, "; "))
	return err
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
