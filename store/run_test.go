package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestRunRecord(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	g := begin(t, s, "tok")
	if err := s.MarkStarted(ctx, g.ID, 7); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 4, 2, 10, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	steps := []RunStep{
		{At: at, Progress: 0, Description: "Queued"},
		{At: at.Add(time.Second), Progress: 0, Description: "Queued"}, // a repeat: not recorded
		{At: at.Add(2 * time.Second), Progress: 50, Description: "Processing 6 of 12"},
		// A replica lagging behind offers an older step: not recorded.
		{At: at.Add(time.Second), Progress: 25, Description: "Processing 3 of 12"},
		{At: at.Add(3 * time.Second), Progress: 100, Description: strings.Repeat("é", maxStepDescription)},
	}
	for _, st := range steps {
		if err := s.AppendRunStep(ctx, 7, st); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AppendRunStep(ctx, 999, steps[0]); err != nil {
		t.Fatalf("a task not started here: %v, want nil", err)
	}
	got, err := s.GenerationByTask(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Run.WrittenTotal(); ok {
		t.Fatalf("WrittenTotal ok before counting: %+v", got.Run)
	}
	if len(got.Run.Steps) != 3 || got.Run.Steps[1].Description != "Processing 6 of 12" || !got.Run.Steps[0].At.Equal(at) || got.Run.Steps[0].At.Location() != time.UTC {
		t.Fatalf("steps = %+v, want 3 in UTC without the repeat or the older step", got.Run.Steps)
	}
	if d := got.Run.Steps[2].Description; len(d) > maxStepDescription || !strings.HasPrefix(d, "éé") || len(d)%2 != 0 {
		t.Fatalf("long description kept as %d bytes, want ≤ %d cut on a rune boundary", len(d), maxStepDescription)
	}

	if err := s.RecordWritten(ctx, 7, []LedgerWritten{{LedgerID: "a", Count: 6}, {LedgerID: "b", Count: 6}}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GenerationByTask(ctx, 7)
	if n, ok := got.Run.WrittenTotal(); !ok || n != 12 || len(got.Run.Steps) != 3 {
		t.Fatalf("after RecordWritten: total %d %v, run %+v", n, ok, got.Run)
	}
	if err := s.RecordWritten(ctx, 7, nil); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GenerationByTask(ctx, 7)
	if n, ok := got.Run.WrittenTotal(); !ok || n != 0 {
		t.Fatalf("a run that wrote nothing: total %d %v, want 0 true", n, ok)
	}
}

func TestRunStepsAreBounded(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	g := begin(t, s, "tok")
	if err := s.MarkStarted(ctx, g.ID, 8); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 4, 2, 10, 0, 0, 0, time.UTC)
	for i := range MaxRunSteps + 20 {
		if err := s.AppendRunStep(ctx, 8, RunStep{At: at.Add(time.Duration(i) * time.Second), Progress: i % 101, Description: fmt.Sprint("step ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := s.GenerationByTask(ctx, 8)
	n := len(got.Run.Steps)
	if n != MaxRunSteps || got.Run.Steps[0].Description != "step 0" || got.Run.Steps[n-1].Description != fmt.Sprint("step ", MaxRunSteps+19) {
		t.Fatalf("%d steps, first %q, last %q; want %d, the first and the latest", n, got.Run.Steps[0].Description, got.Run.Steps[n-1].Description, MaxRunSteps)
	}
}

func FuzzDecodeRun(f *testing.F) {
	f.Add(`null`)
	f.Add(`{"v":1,"steps":[{"at":"2025-01-01T00:00:00Z","progress":5,"description":"x"}],"written":[{"ledger_id":"a","count":2}]}`)
	f.Add(`{"v":2}`)
	f.Fuzz(func(t *testing.T, text string) {
		r, err := decodeRun(text)
		if err != nil {
			return
		}
		enc, err := encodeRun(r)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeRun(enc)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", enc, err)
		}
		if enc2, _ := encodeRun(again); enc2 != enc {
			t.Fatalf("not stable: %s → %s", enc, enc2)
		}
	})
}
