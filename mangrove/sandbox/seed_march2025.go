package sandbox

import "time"

// The worked example of MODEL.md §7 (example 1) as the demo's March 2025 events.

// march2025 is MODEL.md §7, value for value (one nut shell delivery in U.S. units).
func (sd *seeder) march2025(wood, nut int64) error {
	p := demoProjectID
	type ev struct {
		slug      string
		feedstock int64
		day       int
		tracking  string
		points    []pt
	}
	events := []ev{
		{"feedstock-delivery", wood, 3, "FD-2503-01", []pt{{"feedstock-mass", 120, "t"}, {"feedstock-moisture-content", 35, "%"}, {"feedstock-transport-distance", 60, "km"}}},
		{"feedstock-delivery", wood, 11, "FD-2503-02", []pt{{"feedstock-mass", 95, "t"}, {"feedstock-moisture-content", 30, "%"}, {"feedstock-transport-distance", 85, "km"}}},
		{"feedstock-delivery", wood, 20, "FD-2503-03", []pt{{"feedstock-mass", 110, "t"}, {"feedstock-moisture-content", 40, "%"}, {"feedstock-transport-distance", 40, "km"}}},
		{"feedstock-delivery", nut, 5, "FD-2503-04", []pt{{"feedstock-mass", 60, "t"}, {"feedstock-moisture-content", 12, "%"}, {"feedstock-transport-distance", 150, "km"}}},
		{"feedstock-delivery", nut, 17, "FD-2503-05", []pt{{"feedstock-mass", 49.604, "U.S. ton"}, {"feedstock-moisture-content", 10, "%"}, {"feedstock-transport-distance", 74.565, "mile"}}},
		{"pyrolysis-run", wood, 9, "PR-2503-01", []pt{{"biochar-mass-produced", 40.0, "t"}, {"biochar-moisture-content", 20, "%"}, {"pyrolysis-temperature", 620, "degC"}, {"pyrolysis-methane", 0, "kg"}}},
		{"pyrolysis-run", wood, 23, "PR-2503-02", []pt{{"biochar-mass-produced", 38.5, "t"}, {"biochar-moisture-content", 18, "%"}, {"pyrolysis-temperature", 640, "degC"}, {"pyrolysis-methane", 0, "kg"}}},
		{"pyrolysis-run", nut, 14, "PR-2503-03", []pt{{"biochar-mass-produced", 30.0, "t"}, {"biochar-moisture-content", 15, "%"}, {"pyrolysis-temperature", 600, "degC"}, {"pyrolysis-methane", 0, "kg"}}},
		{"lab-analysis", wood, 12, "LAB-2503-01", []pt{{"organic-carbon-content", 78.0, "%"}, {"hydrogen-content", 1.9, "%"}}},
		{"lab-analysis", nut, 15, "LAB-2503-02", []pt{{"organic-carbon-content", 74.0, "%"}, {"hydrogen-content", 2.1, "%"}}},
		{"biochar-delivery", wood, 26, "BD-2503-01", []pt{{"biochar-mass-delivered", 60, "t"}, {"biochar-transport-distance", 35, "km"}}},
		{"biochar-delivery", nut, 24, "BD-2503-02", []pt{{"biochar-mass-delivered", 20, "t"}, {"biochar-transport-distance", 120, "km"}}},
		{"biochar-delivery", nut, 28, "BD-2503-03", []pt{{"biochar-mass-delivered", 10, "t"}, {"biochar-transport-distance", 60, "km"}}},
	}
	for _, x := range events {
		s, e := day(2025, time.March, x.day)
		if err := sd.event(p, x.slug, x.feedstock, s, e, x.tracking, x.points...); err != nil {
			return err
		}
	}
	m := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	return sd.event(p, "facility-energy", 0, m, m.AddDate(0, 1, 0).Add(-time.Second), "EN-2025-03",
		pt{"electricity-consumed", 14100, "kWh"}, pt{"diesel-consumed", 820, "L"})
}
