package sandbox

import "fmt"

// Equations 3-5 of MODEL.md: biochar dry mass and yield, the lab's carbon and
// hydrogen contents and the H/C_org gate; the pyrolysis runs also carry the methane of
// equation 10 (see model_emissions.go). computeProduced is equation 3 alone.

// readPyrolysisRuns reads the partition's pyrolysis runs: dry biochar (3) and methane (10).
func readPyrolysisRuns(r *reader, in *modelInput, alerts *[]string) (bd, ch4kg float64) {
	runs := groupEvents(in.Partition, "pyrolysis-run")
	if len(runs) == 0 && !in.Skipped["biochar-mass-produced"] {
		r.miss("biochar-mass-produced")
	}
	for _, ev := range runs {
		wet, _ := r.get(ev, "biochar-mass-produced", true)
		moist, okM := r.get(ev, "biochar-moisture-content", true)
		if okM && moist > 40 && !in.Skipped["biochar-moisture-content"] {
			*alerts = append(*alerts, fmt.Sprintf("biochar-moisture-content %.4g > 40", moist))
		}
		if temp, ok := r.get(ev, "pyrolysis-temperature", false); ok && temp < 350 && !in.Skipped["pyrolysis-temperature"] {
			*alerts = append(*alerts, fmt.Sprintf("pyrolysis-temperature %.4g < 350", temp))
		}
		m, _ := r.get(ev, "pyrolysis-methane", false)
		bd += wet * (1 - moist/100)
		ch4kg += m
	}
	return bd, ch4kg
}

// readLab reads the lab analyses (4): organic carbon and hydrogen contents.
func readLab(r *reader, in *modelInput) (corg, h float64) {
	labSkipped := in.Skipped["organic-carbon-content"] && in.Skipped["hydrogen-content"]
	if !labSkipped {
		labs := groupEvents(in.Lab, "lab-analysis")
		var inMonth []*eventValues
		for _, ev := range labs {
			if ev.Time >= in.PeriodStart && ev.Time < in.PeriodEnd {
				inMonth = append(inMonth, ev)
			}
		}
		if len(inMonth) == 0 && len(labs) > 0 {
			inMonth = labs[len(labs)-1:]
		}
		if len(inMonth) == 0 {
			if !in.Skipped["organic-carbon-content"] {
				r.miss("organic-carbon-content")
			}
			if !in.Skipped["hydrogen-content"] {
				r.miss("hydrogen-content")
			}
		}
		for _, ev := range inMonth {
			c, _ := r.get(ev, "organic-carbon-content", true)
			hh, _ := r.get(ev, "hydrogen-content", true)
			corg += c / float64(len(inMonth))
			h += hh / float64(len(inMonth))
		}
	}
	return corg, h
}

// addProductionCalcs records the biochar dry mass (3) and the yield.
func addProductionCalcs(calcs *calcList, alerts *[]string, fd, bd float64) {
	calcs.add("biochar-dry-mass", "Biochar dry mass", bd, "t", "", "", "production")
	yield := 0.0
	if fd > 0 {
		yield = bd / fd
		if yield < 0.15 || yield > 0.40 {
			*alerts = append(*alerts, fmt.Sprintf("biochar yield %.3f outside 0.15-0.40", yield))
		}
	}
	calcs.add("biochar-yield", "Biochar yield (dry/dry)", yield, "t/t", "", "", "production")
}

// addQualityCalcs records the lab values and H/C_org (4) and applies the gate (5). When
// the batch is in error it fills res as the model's result and returns ok=false.
func addQualityCalcs(calcs *calcList, alerts *[]string, res *modelResult, in *modelInput, corg, h float64) (hc float64, ok bool) {
	calcs.add("organic-carbon-content", "Organic carbon content used", corg, "%", "", "", "quality")
	calcs.add("hydrogen-content", "Hydrogen content used", h, "%", "", "", "quality")
	if !in.Skipped["organic-carbon-content"] && (corg < 50 || corg > 95) {
		*alerts = append(*alerts, fmt.Sprintf("organic-carbon-content %.4g not between 50 and 95", corg))
	}
	if corg <= 0 {
		res.Calculations = *calcs
		res.Outputs = map[string]float64{}
		res.Err = "organic-carbon-content is 0: H/C_org cannot be computed"
		return 0, false
	}
	hc = calcs.add("h-corg-molar-ratio", "H/C_org molar ratio", (h/fv("molar-mass-h"))/(corg/fv("molar-mass-c")), "mol/mol", "", "", "quality")
	if hc > fv("max-h-corg") {
		res.Calculations = *calcs
		res.Outputs = map[string]float64{}
		res.Alerts = *alerts
		res.Err = "H/C_org above 0.7 eligibility threshold"
		return hc, false
	}
	if hc > fv("alert-h-corg") {
		*alerts = append(*alerts, fmt.Sprintf("H/C_org %.3f > 0.5 (Isometric soil gate)", hc))
	}
	return hc, true
}

// computeProduced is the Biochar Produced model: dry biochar mass per period and feedstock
// (equation 3 alone). It runs concurrently with Net Carbon Removal over the same runs.
func computeProduced(in *modelInput) modelResult {
	r := newReader(in)
	var res modelResult
	var calcs calcList
	var alerts []string
	var wetSum, bd float64
	runs := groupEvents(in.Partition, "pyrolysis-run")
	if len(runs) == 0 && !in.Skipped["biochar-mass-produced"] {
		r.miss("biochar-mass-produced")
	}
	for _, ev := range runs {
		wet, _ := r.get(ev, "biochar-mass-produced", true)
		moist, okM := r.get(ev, "biochar-moisture-content", true)
		if okM && moist > 40 && !in.Skipped["biochar-moisture-content"] {
			alerts = append(alerts, fmt.Sprintf("biochar-moisture-content %.4g > 40", moist))
		}
		wetSum += wet
		bd += wet * (1 - moist/100)
	}
	res.Used = r.used
	if msg := r.failure(); msg != "" {
		res.Err = msg
		return res
	}
	calcs.add("biochar-wet-mass", "Biochar wet mass produced", wetSum, "t", "", "", "production")
	calcs.add("biochar-dry-mass", "Biochar dry mass", bd, "t", "", "", "production")
	res.Calculations = calcs
	res.Alerts = alerts
	res.Outputs = map[string]float64{"biochar-dry-mass": bd}
	return res
}
