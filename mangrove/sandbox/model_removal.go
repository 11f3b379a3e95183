package sandbox

import (
	"fmt"
	"math"
)

// Equations 6-7 and 12 of MODEL.md: durability (Isometric 200-year soil
// formula), gross and durable carbon stored, and the Net Carbon Removal.

// readSoilTemperature reads the end-use site's soil temperature (a static input).
func readSoilTemperature(r *reader, in *modelInput) (soil float64) {
	if !in.Skipped["soil-temperature"] {
		site := groupEventsAny(in.Static, "soil-temperature")
		if site == nil {
			r.miss("soil-temperature")
		} else {
			soil, _ = r.get(site, "soil-temperature", true)
		}
	}
	return soil
}

// addDurabilityCalcs records the durability factor (6) and the carbon stored (7) and
// returns the durable stored CO2e.
func addDurabilityCalcs(calcs *calcList, soil, hc, bd, corg float64) float64 {
	t := calcs.add("durability-soil-temperature", "Soil temperature used for durability", math.Max(soil, fv("soil-temperature-floor")), "degC", "", "", "durability")
	f := math.Min(fv("durability-cap"), 1-(fv("durability-coef-c")+(fv("durability-coef-a")+fv("durability-coef-b")*math.Log(t))*hc))
	calcs.add("durability-factor", "Durability factor (200-year, Isometric soil)", f, "fraction", "", "", "durability")
	sGross := calcs.add("gross-stored-co2e", "Gross carbon stored", bd*corg/100*fv("co2-c-ratio"), "t CO2e", "co2e", "removal", "removal")
	s := calcs.add("durable-stored-co2e", "Durable carbon stored", sGross*f, "t CO2e", "co2e", "removal", "removal")
	return s
}

// addNetRemoval records the Net Carbon Removal (12) and its alerts.
func addNetRemoval(calcs *calcList, alerts *[]string, s, total float64) {
	ncr := calcs.add("net-carbon-removal", "Net Carbon Removal", s-total, "t", "co2e", "net", "removal")
	if s > 0 && total > 0.2*s {
		*alerts = append(*alerts, fmt.Sprintf("emissions-total %.3f t is more than 20%% of durable stored %.3f t", total, s))
	}
	if ncr < 0 {
		*alerts = append(*alerts, fmt.Sprintf("net-carbon-removal %.3f t is negative", ncr))
	}
}
