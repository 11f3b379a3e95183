package sandbox

// Equations 8-11 of MODEL.md: allocation of the facility's energy by dry-biochar
// share, production energy, pyrolysis methane, biochar transport and the total (with the
// feedstock transport of equation 2, recorded in model_feedstock.go).

// readFacilityEnergy reads the month's facility energy (9): electricity and diesel.
func readFacilityEnergy(r *reader, in *modelInput) (kwh, diesel float64) {
	energy := groupEvents(in.Facility, "facility-energy")
	if len(energy) == 0 {
		if !in.Skipped["electricity-consumed"] {
			r.miss("electricity-consumed")
		}
		if !in.Skipped["diesel-consumed"] {
			r.miss("diesel-consumed")
		}
	}
	for _, ev := range energy {
		k, _ := r.get(ev, "electricity-consumed", true)
		d, _ := r.get(ev, "diesel-consumed", true)
		kwh += k
		diesel += d
	}
	return kwh, diesel
}

// readBiocharDeliveries reads the partition's biochar deliveries (11): transport work in t-km.
func readBiocharDeliveries(r *reader, in *modelInput) (btTkm float64) {
	for _, ev := range groupEvents(in.Partition, "biochar-delivery") {
		wet, _ := r.get(ev, "biochar-mass-delivered", true)
		km, _ := r.get(ev, "biochar-transport-distance", true)
		btTkm += wet * km
	}
	return btTkm
}

// periodDryBiochar is the allocation denominator: the dry biochar of every feedstock's
// runs in the period. Other feedstocks' incomplete runs are their batches' problem.
// The engine computes it once per period and passes it as PeriodDry, instead of
// regrouping the period's thousands of runs for every feedstock's batch.
func (in *modelInput) periodDryBiochar() float64 {
	if in.PeriodDry != nil {
		return *in.PeriodDry
	}
	var bdAll float64
	for _, ev := range groupEvents(in.PeriodRuns, "pyrolysis-run") {
		wet, okW := peek(in, ev, "biochar-mass-produced")
		moist, okM := peek(in, ev, "biochar-moisture-content")
		if okW && okM {
			bdAll += wet * (1 - moist/100)
		}
	}
	return bdAll
}

// addEmissionsCalcs records the allocation (8), the production energy (9), methane (10)
// and biochar transport (11) emissions and returns the total emissions.
func addEmissionsCalcs(calcs *calcList, bd, bdAll, kwh, diesel, ch4kg, btTkm, eFt float64) float64 {
	share := 0.0
	if bdAll > 0 {
		share = bd / bdAll
	}
	calcs.add("allocation-share", "Share of the month's dry biochar", share, "fraction", "", "", "allocation")
	calcs.add("electricity-allocated", "Electricity allocated", share*kwh, "kWh", "", "", "energy")
	calcs.add("diesel-allocated", "Diesel allocated", share*diesel, "L", "", "", "energy")
	eProd := calcs.add("emissions-production-energy", "Emissions from production energy", share*(kwh*fv("ef-grid-electricity")+diesel*fv("ef-diesel")), "t CO2e", "co2e", "emission", "emissions")
	eCH4 := calcs.add("emissions-pyrolysis-methane", "Emissions from pyrolysis methane", ch4kg/1000*fv("gwp-ch4"), "t CO2e", "co2e", "emission", "emissions")
	calcs.add("biochar-transport-tkm", "Biochar transport work", btTkm, "t-km", "", "", "transport")
	eBt := calcs.add("emissions-biochar-transport", "Emissions from biochar transport", btTkm*fv("ef-road-freight"), "t CO2e", "co2e", "emission", "emissions")
	total := calcs.add("emissions-total", "Total emissions", eFt+eProd+eCH4+eBt, "t CO2e", "co2e", "emission", "emissions")
	return total
}
