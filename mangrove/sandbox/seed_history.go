package sandbox

import (
	"fmt"
	"time"
)

// The demo project's events: 2024 to February 2025, generated around the worked example.

// demoEvents writes 2024 and Q1 2025. March 2025 is exactly the worked example of
// MODEL.md §7; the other months vary around it. In August 2024 the nut shell
// line was down for maintenance (deliveries, no run), so that month's Net Carbon
// Removal batch for nut shells is in error: "required input missing: biochar-mass-produced".
func (sd *seeder) demoEvents(wood, nut int64) error {
	p := demoProjectID
	s, e := day(2024, 1, 1)
	if err := sd.event(p, "site-static", 0, s, e, "SITE-001", pt{"soil-temperature", 15, "degC"}); err != nil {
		return err
	}
	seq := 0
	tracking := func(prefix string) string { seq++; return fmt.Sprintf("%s-%04d", prefix, seq) }
	for m := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC); m.Before(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)); m = m.AddDate(0, 1, 0) {
		y, mo := m.Year(), m.Month()
		for _, d := range []int{3, 12, 22} {
			s, e := day(y, mo, d)
			if err := sd.event(p, "feedstock-delivery", wood, s, e, tracking("FD"),
				pt{"feedstock-mass", sd.between(90, 130, 1), "t"}, pt{"feedstock-moisture-content", sd.between(28, 42, 1), "%"},
				pt{"feedstock-transport-distance", sd.between(35, 90, 0), "km"}); err != nil {
				return err
			}
		}
		for _, d := range []int{5, 18} {
			s, e := day(y, mo, d)
			if err := sd.event(p, "feedstock-delivery", nut, s, e, tracking("FD"),
				pt{"feedstock-mass", sd.between(40, 65, 1), "t"}, pt{"feedstock-moisture-content", sd.between(9, 14, 1), "%"},
				pt{"feedstock-transport-distance", sd.between(100, 160, 0), "km"}); err != nil {
				return err
			}
		}
		for _, d := range []int{8, 20} {
			s, e := day(y, mo, d)
			if err := sd.event(p, "pyrolysis-run", wood, s, e, tracking("PR"),
				pt{"biochar-mass-produced", sd.between(36, 42, 1), "t"}, pt{"biochar-moisture-content", sd.between(16, 22, 1), "%"},
				pt{"pyrolysis-temperature", sd.between(600, 650, 0), "degC"}, pt{"pyrolysis-methane", sd.between(0, 3, 1), "kg"}); err != nil {
				return err
			}
		}
		if !(y == 2024 && mo == time.August) {
			s, e := day(y, mo, 14)
			if err := sd.event(p, "pyrolysis-run", nut, s, e, tracking("PR"),
				pt{"biochar-mass-produced", sd.between(26, 32, 1), "t"}, pt{"biochar-moisture-content", sd.between(13, 17, 1), "%"},
				pt{"pyrolysis-temperature", sd.between(580, 620, 0), "degC"}, pt{"pyrolysis-methane", sd.between(0, 2, 1), "kg"}); err != nil {
				return err
			}
		}
		if mo%3 == 1 { // quarterly lab analyses, in January, April, July and October
			for _, f := range []struct {
				id           int64
				cLo, hLo, hH float64
			}{{wood, 76, 1.8, 2.0}, {nut, 72, 2.0, 2.2}} {
				s, e := day(y, mo, 10)
				if err := sd.event(p, "lab-analysis", f.id, s, e, tracking("LAB"),
					pt{"organic-carbon-content", sd.between(f.cLo, f.cLo+4, 1), "%"}, pt{"hydrogen-content", sd.between(f.hLo, f.hH, 2), "%"}); err != nil {
					return err
				}
			}
		}
		s, e := day(y, mo, 25)
		if err := sd.event(p, "biochar-delivery", wood, s, e, tracking("BD"),
			pt{"biochar-mass-delivered", sd.between(50, 65, 1), "t"}, pt{"biochar-transport-distance", sd.between(30, 40, 0), "km"}); err != nil {
			return err
		}
		s, e = day(y, mo, 26)
		if err := sd.event(p, "biochar-delivery", nut, s, e, tracking("BD"),
			pt{"biochar-mass-delivered", sd.between(15, 25, 1), "t"}, pt{"biochar-transport-distance", sd.between(60, 120, 0), "km"}); err != nil {
			return err
		}
		end := m.AddDate(0, 1, 0).Add(-time.Second)
		if err := sd.event(p, "facility-energy", 0, m, end, "EN-"+m.Format("2006-01"),
			pt{"electricity-consumed", sd.between(12000, 15000, 0), "kWh"}, pt{"diesel-consumed", sd.between(700, 900, 0), "L"}); err != nil {
			return err
		}
	}
	return sd.march2025(wood, nut)
}
