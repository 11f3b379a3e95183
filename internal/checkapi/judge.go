package checkapi

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Kind is the JSON type a field should have.
type Kind int

// The kinds a field can be checked for.
const (
	String  Kind = iota
	Number       // any JSON number
	Integer      // a JSON number without a fraction (the client decodes it into an int64)
	Bool
	Object
	Array
	Time // a string holding an RFC 3339 time (the client decodes it into a time.Time)
	Any  // present is enough
)

func (k Kind) String() string {
	return [...]string{"string", "number", "integer", "boolean", "object", "array", "RFC 3339 time", "any"}[k]
}

// Field is one field of a response the dashboard reads. Every field listed
// is decoded by the dashboard's client into a typed Go field, so a value of
// another JSON type (null aside) fails the whole answer whatever Needed says.
type Field struct {
	// Path is dotted from the object checked; "[]" steps into every element
	// of an array, e.g. "model_run.calculations[].value".
	Path     string
	Kind     Kind
	Nullable bool // null is documented (or harmless) for it
	// Needed says the dashboard breaks or shows wrong numbers when the field
	// is absent or null (where not Nullable).
	Needed bool
	Basis  Basis
}

// Verdict is what JudgeField found.
type Verdict struct {
	Status Status
	Note   string
	// Fatal is set when a value of another JSON type than null was seen:
	// the client cannot decode the answer at all.
	Fatal bool
}

// jsonType names the JSON type of a value decoded with UseNumber.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case json.Number, float64:
		return "number"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

// matches says whether v has kind k (null only when nullable), and when it
// does not, what it is instead.
func matches(k Kind, nullable bool, v any) (bool, string) {
	if v == nil {
		return nullable || k == Any, "null"
	}
	got := jsonType(v)
	switch k {
	case Any:
		return true, got
	case String:
		return got == "string", got
	case Number:
		return got == "number", got
	case Integer:
		if got != "number" {
			return false, got
		}
		if n, ok := v.(json.Number); ok {
			if _, err := n.Int64(); err != nil {
				return false, "number with a fraction (" + n.String() + ")"
			}
		}
		return true, got
	case Bool:
		return got == "boolean", got
	case Object:
		return got == "object", got
	case Array:
		return got == "array", got
	case Time:
		s, ok := v.(string)
		if !ok {
			return false, got
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return false, fmt.Sprintf("string %q, not an RFC 3339 time", clip(s, 30))
		}
		return true, got
	}
	return false, got
}

// tally counts what a field's values were across every item and element.
type tally struct {
	present, missing, skipped int
	wrong                     map[string]int // what was found instead → how often
}

// JudgeField checks f in each of docs (the items of a list, or one object)
// and says present, missing, wrong type, or could not tell when no value
// could be seen (an empty list, or every parent null).
func JudgeField(f Field, docs ...any) Verdict {
	t := &tally{wrong: map[string]int{}}
	for _, d := range docs {
		t.walk(f, strings.Split(f.Path, "."), d)
	}
	total := t.present + t.missing + t.skipped
	for _, n := range t.wrong {
		total += n
	}
	if len(t.wrong) > 0 {
		var seen []string
		n, fatal := 0, false
		for w, c := range t.wrong {
			seen = append(seen, w)
			n += c
			fatal = fatal || w != "null"
		}
		sort.Strings(seen)
		want := f.Kind.String()
		if f.Nullable {
			want += " or null"
		}
		return Verdict{WrongType, fmt.Sprintf("%s in %d of %d, want %s", strings.Join(seen, ", "), n, total, want), fatal}
	}
	if t.missing > 0 {
		return Verdict{Status: Missing, Note: fmt.Sprintf("absent in %d of %d", t.missing, total)}
	}
	if t.present == 0 {
		return Verdict{Status: CouldNotTell, Note: "no value to look at (an empty list, empty arrays or null parents)"}
	}
	if t.present == 1 {
		return Verdict{Status: Present}
	}
	return Verdict{Status: Present, Note: fmt.Sprintf("in all %d", t.present)}
}

// walk follows the remaining path segments from v.
func (t *tally) walk(f Field, segs []string, v any) {
	seg := segs[0]
	name, each := strings.CutSuffix(seg, "[]")
	obj, ok := v.(map[string]any)
	if !ok {
		// A null parent tells nothing about its fields; a parent of the
		// wrong type is reported on its own row.
		t.skipped++
		return
	}
	child, ok := obj[name]
	if !ok {
		t.missing++
		return
	}
	last := len(segs) == 1
	if each {
		arr, ok := child.([]any)
		if !ok {
			t.skipped++
			return
		}
		for _, el := range arr {
			if last {
				t.judge(f, el)
			} else {
				t.walk(f, segs[1:], el)
			}
		}
		return
	}
	if last {
		t.judge(f, child)
		return
	}
	t.walk(f, segs[1:], child)
}

func (t *tally) judge(f Field, v any) {
	if ok, got := matches(f.Kind, f.Nullable, v); !ok {
		t.wrong[got]++
		return
	}
	t.present++
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
