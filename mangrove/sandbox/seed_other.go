package sandbox

import (
	"fmt"
	"time"
)

// The second project's events (isolation checks).

// otherEvents gives the second project a few pyrolysis runs in January and February 2025.
func (sd *seeder) otherEvents(rice int64) error {
	for i, d := range []time.Time{
		time.Date(2025, 1, 9, 0, 0, 0, 0, time.UTC), time.Date(2025, 1, 23, 0, 0, 0, 0, time.UTC), time.Date(2025, 2, 13, 0, 0, 0, 0, time.UTC),
	} {
		if err := sd.event(otherProjectID, "pyrolysis-run", rice, d, d.Add(24*time.Hour-time.Second), fmt.Sprintf("KILN-%03d", i+1),
			pt{"biochar-mass-produced", 12.5 + float64(i), "t"}, pt{"biochar-moisture-content", 12, "%"}); err != nil {
			return err
		}
	}
	return nil
}
