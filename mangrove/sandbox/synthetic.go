package sandbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Synthetic describes a large, plausible data set for load and benchmark runs, added to
// the demo project after its own data: for each of Feedstocks new feedstocks and each
// day of Years years from Start, RunsPerDay pyrolysis runs (4 data points each) and one
// feedstock delivery (3); weekly biochar deliveries (2), monthly lab analyses (2) and
// monthly facility energy (2, facility-wide). 5 years of 20 feedstocks with 6 runs a day
// is about 1,000,000 data points.
type Synthetic struct {
	Start      time.Time // first day (UTC); zero means 2026-01-01, after the demo data
	Years      int
	Feedstocks int
	RunsPerDay int
}

// SeedSynthetic writes the data set into the running sandbox, one transaction per
// year so a large set never sits in one transaction, and returns the number of data
// points written. Seeding twice adds a second set of feedstocks.
func (s *Server) SeedSynthetic(ctx context.Context, spec Synthetic) (int, error) {
	if spec.Years <= 0 || spec.Feedstocks <= 0 || spec.RunsPerDay < 0 {
		return 0, errors.New("sandbox: SeedSynthetic needs Years and Feedstocks > 0 and RunsPerDay >= 0")
	}
	start := spec.Start
	if start.IsZero() {
		start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return seedSyntheticFrom(ctx, s.db, start.UTC().Truncate(24*time.Hour), spec.Years, spec.Feedstocks, spec.RunsPerDay)
}

// seedSynthetic is SeedSynthetic from 2026-01-01, for the package's own tests.
func seedSynthetic(ctx context.Context, db *sql.DB, years, feedstocks, perDay int) (int, error) {
	return seedSyntheticFrom(ctx, db, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), years, feedstocks, perDay)
}

func seedSyntheticFrom(ctx context.Context, db *sql.DB, start time.Time, years, feedstocks, perDay int) (int, error) {
	rng := rand.New(rand.NewPCG(7, 7))
	var fs []int64
	for i := range feedstocks {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM feedstocks WHERE project_id = ? AND name LIKE 'Synthetic feedstock %'`, demoProjectID).Scan(&n); err != nil {
			return 0, err
		}
		r, err := db.ExecContext(ctx, `INSERT INTO feedstocks (project_id, name) VALUES (?, ?)`, demoProjectID, fmt.Sprintf("Synthetic feedstock %d", n+1))
		if err != nil {
			return 0, fmt.Errorf("feedstock %d: %w", i+1, err)
		}
		id, err := r.LastInsertId()
		if err != nil {
			return 0, err
		}
		fs = append(fs, id)
	}
	total := 0
	for y := range years {
		from := start.AddDate(y, 0, 0)
		n, err := seedSyntheticSpan(ctx, db, rng, fs, perDay, from, from.AddDate(1, 0, 0))
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// seedSyntheticSpan writes the days [start, end) in one transaction.
func seedSyntheticSpan(ctx context.Context, db *sql.DB, rng *rand.Rand, fs []int64, perDay int, start, end time.Time) (int, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	sd := &seeder{ctx: ctx, tx: tx, rng: rng, now: time.Now().UnixMilli(), eventTypes: map[string]int64{}, types: map[string]int64{}}
	for i, et := range eventTypeSeed {
		sd.eventTypes[et.slug] = int64(i + 1)
	}
	for i, t := range dataPointTypeSeed {
		sd.types[t.slug] = int64(i + 1)
	}
	if sd.insEvent, err = tx.PrepareContext(ctx, insertEventSQL); err != nil {
		return 0, err
	}
	defer sd.insEvent.Close()
	if sd.insDataPoint, err = tx.PrepareContext(ctx, insertDataPointSQL); err != nil {
		return 0, err
	}
	defer sd.insDataPoint.Close()
	p := demoProjectID
	for d := start; d.Before(end); d = d.AddDate(0, 0, 1) {
		dayEnd := d.Add(24*time.Hour - time.Second)
		if d.Day() == 1 {
			if err := sd.event(p, "facility-energy", 0, d, d.AddDate(0, 1, 0).Add(-time.Second), "",
				pt{"electricity-consumed", sd.between(40000, 60000, 0), "kWh"}, pt{"diesel-consumed", sd.between(2000, 3000, 0), "L"}); err != nil {
				return 0, err
			}
		}
		for _, f := range fs {
			if err := sd.event(p, "feedstock-delivery", f, d, dayEnd, "",
				pt{"feedstock-mass", sd.between(20, 40, 1), "t"}, pt{"feedstock-moisture-content", sd.between(20, 40, 1), "%"},
				pt{"feedstock-transport-distance", sd.between(20, 120, 0), "km"}); err != nil {
				return 0, err
			}
			for r := 0; r < perDay; r++ {
				t := d.Add(time.Duration(r) * 24 * time.Hour / time.Duration(perDay))
				if err := sd.event(p, "pyrolysis-run", f, t, t.Add(time.Hour), "",
					pt{"biochar-mass-produced", sd.between(1, 2, 2), "t"}, pt{"biochar-moisture-content", sd.between(10, 20, 1), "%"},
					pt{"pyrolysis-temperature", sd.between(550, 650, 0), "degC"}, pt{"pyrolysis-methane", sd.between(0, 1, 2), "kg"}); err != nil {
					return 0, err
				}
			}
			if d.Weekday() == time.Friday {
				if err := sd.event(p, "biochar-delivery", f, d, dayEnd, "",
					pt{"biochar-mass-delivered", sd.between(20, 40, 1), "t"}, pt{"biochar-transport-distance", sd.between(20, 80, 0), "km"}); err != nil {
					return 0, err
				}
			}
			if d.Day() == 10 {
				if err := sd.event(p, "lab-analysis", f, d, dayEnd, "",
					pt{"organic-carbon-content", sd.between(70, 85, 1), "%"}, pt{"hydrogen-content", sd.between(1.5, 2.5, 2), "%"}); err != nil {
					return 0, err
				}
			}
		}
	}
	return sd.points, tx.Commit()
}
