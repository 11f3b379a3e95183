package sandbox

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// The biochar models (see shared/biochar-model.md). Everything here is pure: the engine
// loads data points, a model turns them into calculations, outputs and alerts.

// factor is one static input of the model; factors is the single table of them, so a
// reviewer can check every number against its source in one place.
type factor struct {
	Name   string
	Slug   string
	Value  float64
	Unit   string
	Source string
}

var factors = []factor{
	{"CO2 to C mass ratio", "co2-c-ratio", 44.0 / 12.0, "t CO2/t C", "44/12, molar masses"},
	{"Road freight emission factor", "ef-road-freight", 0.0001, "t CO2e/t-km", "0.10 kg/t-km; sandbox default between NL road average and GLEC-type artic"},
	{"Grid electricity emission factor", "ef-grid-electricity", 0.00043, "t CO2e/kWh", "Mangrove static-input example (2025)"},
	{"Diesel combustion factor", "ef-diesel", 0.00263, "t CO2/L", "DEFRA"},
	{"GWP100 of methane", "gwp-ch4", 28, "t CO2e/t CH4", "IPCC AR5, as used by VM0044 and Puro"},
	{"Durability coefficient a", "durability-coef-a", -0.383, "-", "Isometric soil module Table 4"},
	{"Durability coefficient b", "durability-coef-b", 0.350, "per ln(degC)", "Isometric soil module Table 4"},
	{"Durability coefficient c", "durability-coef-c", -0.048, "-", "Isometric soil module Table 4"},
	{"Durability cap", "durability-cap", 0.95, "-", "Isometric soil module"},
	{"Soil temperature floor", "soil-temperature-floor", 7, "degC", "avoids ln T <= 0; conservative"},
	{"Maximum H/C_org", "max-h-corg", 0.7, "mol/mol", "EBC, Puro, VM0044"},
	{"Isometric H/C_org alert threshold", "alert-h-corg", 0.5, "mol/mol", "Isometric soil gate (alert only in v1)"},
	{"U.S. ton to tonne", "us-ton-to-t", 0.90718474, "t/U.S. ton", "exact"},
	{"Mile to km", "mile-to-km", 1.609344, "km/mi", "exact"},
	{"US gallon to litre", "us-gal-to-l", 3.785411784, "L/US gal", "exact"},
	{"Molar mass of hydrogen", "molar-mass-h", 1.008, "g/mol", "IUPAC"},
	{"Molar mass of carbon", "molar-mass-c", 12.011, "g/mol", "IUPAC"},
}

var factorBySlug = func() map[string]float64 {
	m := make(map[string]float64, len(factors))
	for _, f := range factors {
		m[f.Slug] = f.Value
	}
	return m
}()

// fv returns a factor; a typo is a programming error caught by any test that runs the model.
func fv(slug string) float64 {
	v, ok := factorBySlug[slug]
	if !ok {
		panic("sandbox: unknown factor " + slug)
	}
	return v
}

// convertUnit converts a recorded value into the unit the model computes in.
// U.S. units are accepted where the data collection allows them (biochar-model.md §2).
func convertUnit(v float64, from, to string) (float64, error) {
	if from == to || from == "" {
		return v, nil
	}
	switch {
	case from == "U.S. ton" && to == "t":
		return v * fv("us-ton-to-t"), nil
	case from == "mile" && to == "km":
		return v * fv("mile-to-km"), nil
	case from == "US gal" && to == "L":
		return v * fv("us-gal-to-l"), nil
	case from == "kg" && to == "t":
		return v / 1000, nil
	}
	return 0, fmt.Errorf("unit %q cannot be converted to %q", from, to)
}

// inputPoint is one data point handed to a model, with what it needs of its event.
type inputPoint struct {
	DataPointID int64
	EventID     int64
	EventSlug   string
	FeedstockID int64 // 0: facility-wide or static
	Slug        string
	Value       float64
	Unit        string
	Time        int64 // owning event's start, unix ms
}

// modelInput is everything one batch's model run may read, already restricted to the
// batch's period and partition and to the request's data_point_ids selection.
type modelInput struct {
	PeriodStart, PeriodEnd int64 // [start, end) unix ms
	Partition              []inputPoint
	Facility               []inputPoint
	Lab                    []inputPoint
	Static                 []inputPoint
	PeriodRuns             []inputPoint // pyrolysis runs of every feedstock in the period (allocation)
	// PeriodDry, when set, is the allocation denominator already computed from
	// PeriodRuns (see periodDryBiochar): the same for every batch of the period.
	PeriodDry *float64
	Skipped   map[string]bool
	// canonical units of the input slugs, from the data point types.
	Units map[string]string
}

type calcResult struct {
	Slug, Name, Unit, GHG, LCARole, Category string
	Value                                    float64
}

type modelResult struct {
	Calculations []calcResult
	Outputs      map[string]float64
	Alerts       []string
	Err          string
	Used         []int64 // data point ids the run read
}

// modelDef declares what a model reads and writes; the engine plans and loads from it.
type modelDef struct {
	Kind            string
	Inputs          []string // required input slugs, declared order
	Drivers         []string // event type slugs whose events make a batch exist
	PartitionEvents []string // event types read per period (and partition)
	FacilityEvents  []string // facility-wide event types read per period
	LabLookback     bool     // lab analyses within 12 months up to the period end
	StaticInputs    []string // latest static value at the period end
	Allocation      bool     // needs every feedstock's runs in the period
	Outputs         []string // declared outputs; Outputs[0] is the primary output
	Compute         func(in *modelInput) modelResult
}

var modelDefs = map[string]*modelDef{
	ncrModel.Kind:      ncrModel,
	producedModel.Kind: producedModel,
}

var ncrModel = &modelDef{
	Kind: "biochar-net-carbon-removal-v1",
	Inputs: []string{
		"feedstock-mass", "feedstock-moisture-content", "feedstock-transport-distance",
		"biochar-mass-produced", "biochar-moisture-content", "pyrolysis-temperature", "pyrolysis-methane",
		"electricity-consumed", "diesel-consumed",
		"organic-carbon-content", "hydrogen-content",
		"biochar-mass-delivered", "biochar-transport-distance",
		"soil-temperature",
	},
	// Lab analyses are a 12-month lookback and facility energy is shared, so neither
	// makes a (month, feedstock) batch exist on its own.
	Drivers:         []string{"feedstock-delivery", "pyrolysis-run", "biochar-delivery"},
	PartitionEvents: []string{"feedstock-delivery", "pyrolysis-run", "biochar-delivery"},
	FacilityEvents:  []string{"facility-energy"},
	LabLookback:     true,
	StaticInputs:    []string{"soil-temperature"},
	Allocation:      true,
	Outputs: []string{
		"net-carbon-removal", "gross-stored-co2e", "durable-stored-co2e", "feedstock-dry-mass",
		"biochar-dry-mass", "biochar-yield", "h-corg-molar-ratio", "durability-factor",
		"emissions-feedstock-transport", "emissions-production-energy", "emissions-pyrolysis-methane",
		"emissions-biochar-transport", "emissions-total",
	},
	Compute: computeNCR,
}

var producedModel = &modelDef{
	Kind:            "biochar-produced-v1",
	Inputs:          []string{"biochar-mass-produced", "biochar-moisture-content"},
	Drivers:         []string{"pyrolysis-run"},
	PartitionEvents: []string{"pyrolysis-run"},
	Outputs:         []string{"biochar-dry-mass"},
	Compute:         computeProduced,
}

// eventValues is one event's data points by slug.
type eventValues struct {
	ID          int64
	Time        int64
	FeedstockID int64
	Slug        string
	Points      map[string]*inputPoint // into the model's input, which models never modify
}

// groupEvents groups points by event, keeping only events of the given type, ordered by time then id.
//
// It runs for every batch over hundreds of points (and over a period's thousands of runs
// for the allocation), so the events' maps hold pointers into points rather than copies.
func groupEvents(points []inputPoint, eventSlug string) []*eventValues {
	byID := map[int64]*eventValues{}
	var out []*eventValues
	for i := range points {
		p := &points[i]
		if p.EventSlug != eventSlug {
			continue
		}
		ev := byID[p.EventID]
		if ev == nil {
			ev = &eventValues{ID: p.EventID, Time: p.Time, FeedstockID: p.FeedstockID, Slug: p.EventSlug, Points: make(map[string]*inputPoint, 4)}
			byID[p.EventID] = ev
			out = append(out, ev)
		}
		ev.Points[p.Slug] = p
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Time != out[j].Time {
			return out[i].Time < out[j].Time
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// reader reads values for one model run, tracking what was used, what is missing and
// unit problems, so the model code below reads like the equations.
type reader struct {
	in      *modelInput
	used    []int64
	seen    map[int64]bool
	missing []string
	errs    []string
}

func newReader(in *modelInput) *reader { return &reader{in: in, seen: map[int64]bool{}} }

func (r *reader) miss(slug string) {
	for _, m := range r.missing {
		if m == slug {
			return
		}
	}
	r.missing = append(r.missing, slug)
}

func (r *reader) use(p inputPoint) {
	if !r.seen[p.DataPointID] {
		r.seen[p.DataPointID] = true
		r.used = append(r.used, p.DataPointID)
	}
}

// get returns an event's value for slug in the model's unit. A skipped type reads as 0
// and is never missing; required=false means an absent value reads as 0 (e.g. methane).
func (r *reader) get(ev *eventValues, slug string, required bool) (float64, bool) {
	if r.in.Skipped[slug] {
		return 0, true
	}
	p, ok := ev.Points[slug]
	if !ok {
		if required {
			r.miss(slug)
		}
		return 0, false
	}
	r.use(*p)
	v, err := convertUnit(p.Value, p.Unit, r.in.Units[slug])
	if err != nil {
		r.errs = append(r.errs, fmt.Sprintf("%s: %v", slug, err))
		return 0, false
	}
	return v, true
}

func (r *reader) failure() string {
	var parts []string
	if len(r.missing) > 0 {
		parts = append(parts, "required input missing: "+strings.Join(r.missing, ", "))
	}
	parts = append(parts, r.errs...)
	return strings.Join(parts, "; ")
}

type calcList []calcResult

func (c *calcList) add(slug, name string, value float64, unit, ghg, role, category string) float64 {
	*c = append(*c, calcResult{Slug: slug, Name: name, Value: value, Unit: unit, GHG: ghg, LCARole: role, Category: category})
	return value
}

// computeNCR implements equations 1-12 of biochar-model.md for one feedstock and month.
func computeNCR(in *modelInput) modelResult {
	r := newReader(in)
	var res modelResult
	var calcs calcList
	var alerts []string

	// 1-2 Feedstock deliveries (may be empty: feedstock can come from stock).
	var fd, ftTkm float64
	for _, ev := range groupEvents(in.Partition, "feedstock-delivery") {
		wet, _ := r.get(ev, "feedstock-mass", true)
		moist, okM := r.get(ev, "feedstock-moisture-content", true)
		km, _ := r.get(ev, "feedstock-transport-distance", true)
		if okM && moist > 60 && !in.Skipped["feedstock-moisture-content"] {
			alerts = append(alerts, fmt.Sprintf("feedstock-moisture-content %.4g > 60", moist))
		}
		fd += wet * (1 - moist/100)
		ftTkm += wet * km
	}

	// 3, 10 Pyrolysis runs: at least one is required (unless the mass type is skipped).
	var bd, ch4kg float64
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
		if temp, ok := r.get(ev, "pyrolysis-temperature", false); ok && temp < 350 && !in.Skipped["pyrolysis-temperature"] {
			alerts = append(alerts, fmt.Sprintf("pyrolysis-temperature %.4g < 350", temp))
		}
		m, _ := r.get(ev, "pyrolysis-methane", false)
		bd += wet * (1 - moist/100)
		ch4kg += m
	}

	// 4 Lab: the mean of the analyses dated in the month, else the most recent one.
	var corg, h float64
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

	// Site static: soil temperature.
	var soil float64
	if !in.Skipped["soil-temperature"] {
		site := groupEventsAny(in.Static, "soil-temperature")
		if site == nil {
			r.miss("soil-temperature")
		} else {
			soil, _ = r.get(site, "soil-temperature", true)
		}
	}

	// 9 Facility energy of the month (required unless both types are skipped).
	var kwh, diesel float64
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

	// 11 Biochar deliveries (may be empty).
	var btTkm float64
	for _, ev := range groupEvents(in.Partition, "biochar-delivery") {
		wet, _ := r.get(ev, "biochar-mass-delivered", true)
		km, _ := r.get(ev, "biochar-transport-distance", true)
		btTkm += wet * km
	}

	// 8 Allocation denominator: dry biochar of every feedstock in the month. Other
	// feedstocks' incomplete runs are their batches' problem, not this one's.
	bdAll := in.periodDryBiochar()

	res.Used = r.used
	if msg := r.failure(); msg != "" {
		res.Err = msg
		return res
	}

	calcs.add("feedstock-dry-mass", "Feedstock dry mass", fd, "t", "", "", "feedstock")
	calcs.add("feedstock-transport-tkm", "Feedstock transport work", ftTkm, "t-km", "", "", "transport")
	eFt := calcs.add("emissions-feedstock-transport", "Emissions from feedstock transport", ftTkm*fv("ef-road-freight"), "t CO2e", "co2e", "emission", "emissions")
	calcs.add("biochar-dry-mass", "Biochar dry mass", bd, "t", "", "", "production")
	yield := 0.0
	if fd > 0 {
		yield = bd / fd
		if yield < 0.15 || yield > 0.40 {
			alerts = append(alerts, fmt.Sprintf("biochar yield %.3f outside 0.15-0.40", yield))
		}
	}
	calcs.add("biochar-yield", "Biochar yield (dry/dry)", yield, "t/t", "", "", "production")
	calcs.add("organic-carbon-content", "Organic carbon content used", corg, "%", "", "", "quality")
	calcs.add("hydrogen-content", "Hydrogen content used", h, "%", "", "", "quality")
	if !in.Skipped["organic-carbon-content"] && (corg < 50 || corg > 95) {
		alerts = append(alerts, fmt.Sprintf("organic-carbon-content %.4g not between 50 and 95", corg))
	}
	if corg <= 0 {
		res.Calculations = calcs
		res.Outputs = map[string]float64{}
		res.Err = "organic-carbon-content is 0: H/C_org cannot be computed"
		return res
	}
	hc := calcs.add("h-corg-molar-ratio", "H/C_org molar ratio", (h/fv("molar-mass-h"))/(corg/fv("molar-mass-c")), "mol/mol", "", "", "quality")
	if hc > fv("max-h-corg") {
		res.Calculations = calcs
		res.Outputs = map[string]float64{}
		res.Alerts = alerts
		res.Err = "H/C_org above 0.7 eligibility threshold"
		return res
	}
	if hc > fv("alert-h-corg") {
		alerts = append(alerts, fmt.Sprintf("H/C_org %.3f > 0.5 (Isometric soil gate)", hc))
	}
	t := calcs.add("durability-soil-temperature", "Soil temperature used for durability", math.Max(soil, fv("soil-temperature-floor")), "degC", "", "", "durability")
	f := math.Min(fv("durability-cap"), 1-(fv("durability-coef-c")+(fv("durability-coef-a")+fv("durability-coef-b")*math.Log(t))*hc))
	calcs.add("durability-factor", "Durability factor (200-year, Isometric soil)", f, "fraction", "", "", "durability")
	sGross := calcs.add("gross-stored-co2e", "Gross carbon stored", bd*corg/100*fv("co2-c-ratio"), "t CO2e", "co2e", "removal", "removal")
	s := calcs.add("durable-stored-co2e", "Durable carbon stored", sGross*f, "t CO2e", "co2e", "removal", "removal")
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
	ncr := calcs.add("net-carbon-removal", "Net Carbon Removal", s-total, "t", "co2e", "net", "removal")
	if s > 0 && total > 0.2*s {
		alerts = append(alerts, fmt.Sprintf("emissions-total %.3f t is more than 20%% of durable stored %.3f t", total, s))
	}
	if ncr < 0 {
		alerts = append(alerts, fmt.Sprintf("net-carbon-removal %.3f t is negative", ncr))
	}

	res.Calculations = calcs
	res.Alerts = alerts
	res.Outputs = map[string]float64{}
	for _, c := range calcs {
		res.Outputs[c.Slug] = c.Value
	}
	return res
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

// groupEventsAny returns the one event holding slug among static points (the engine
// already picked the latest valid one), or nil.
func groupEventsAny(points []inputPoint, slug string) *eventValues {
	for _, p := range points {
		if p.Slug == slug {
			return &eventValues{ID: p.EventID, Time: p.Time, Slug: p.EventSlug, Points: map[string]*inputPoint{slug: &p}}
		}
	}
	return nil
}

// peek reads a value for the allocation denominator without marking it used or missing.
func peek(in *modelInput, ev *eventValues, slug string) (float64, bool) {
	if in.Skipped[slug] {
		return 0, true
	}
	p, ok := ev.Points[slug]
	if !ok {
		return 0, false
	}
	v, err := convertUnit(p.Value, p.Unit, in.Units[slug])
	return v, err == nil
}
