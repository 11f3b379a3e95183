package sandbox

// The biochar models (MODEL.md describes them). Everything here is pure: the engine
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

// computeNCR implements equations 1-12 of MODEL.md for one feedstock and month.
//
// Each group of equations lives in its own file: model_feedstock.go (1-2),
// model_biochar.go (3-5, 10's methane reading), model_emissions.go (8-11) and
// model_removal.go (6-7, 12); model_inputs.go holds the reader they share.
func computeNCR(in *modelInput) modelResult {
	r := newReader(in)
	var res modelResult
	var calcs calcList
	var alerts []string

	// 1-2 Feedstock deliveries (may be empty: feedstock can come from stock).
	fd, ftTkm := readFeedstockDeliveries(r, in, &alerts)

	// 3, 10 Pyrolysis runs: at least one is required (unless the mass type is skipped).
	bd, ch4kg := readPyrolysisRuns(r, in, &alerts)

	// 4 Lab: the mean of the analyses dated in the month, else the most recent one.
	corg, h := readLab(r, in)

	// Site static: soil temperature.
	soil := readSoilTemperature(r, in)

	// 9 Facility energy of the month (required unless both types are skipped).
	kwh, diesel := readFacilityEnergy(r, in)

	// 11 Biochar deliveries (may be empty).
	btTkm := readBiocharDeliveries(r, in)

	// 8 Allocation denominator: dry biochar of every feedstock in the month. Other
	// feedstocks' incomplete runs are their batches' problem, not this one's.
	bdAll := in.periodDryBiochar()

	res.Used = r.used
	if msg := r.failure(); msg != "" {
		res.Err = msg
		return res
	}

	eFt := addFeedstockCalcs(&calcs, fd, ftTkm)
	addProductionCalcs(&calcs, &alerts, fd, bd)
	hc, ok := addQualityCalcs(&calcs, &alerts, &res, in, corg, h)
	if !ok {
		return res
	}
	s := addDurabilityCalcs(&calcs, soil, hc, bd, corg)
	total := addEmissionsCalcs(&calcs, bd, bdAll, kwh, diesel, ch4kg, btTkm, eFt)
	addNetRemoval(&calcs, &alerts, s, total)

	res.Calculations = calcs
	res.Alerts = alerts
	res.Outputs = map[string]float64{}
	for _, c := range calcs {
		res.Outputs[c.Slug] = c.Value
	}
	return res
}
