package sandbox

// The catalog: event types and data point types (the model's inputs and outputs).

// eventTypeSeed and dataPointTypeSeed are the catalog (MODEL.md §4); their
// integer ids are fixed by position, starting at 1.
var eventTypeSeed = []struct {
	slug, name string
	static     bool
}{
	{"feedstock-delivery", "Feedstock Delivery", false},
	{"pyrolysis-run", "Pyrolysis Run", false},
	{"facility-energy", "Facility Energy Use", false},
	{"lab-analysis", "Biochar Lab Analysis", false},
	{"biochar-delivery", "Biochar Delivery", false},
	{"site-static", "End-use Site", true},
}

var dataPointTypeSeed = []struct {
	slug, name, unit, category, subcategory, event string
}{
	// Inputs (category "input", subcategory = the model doc's category).
	{"feedstock-mass", "Feedstock mass delivered (wet)", "t", "input", "feedstock", "feedstock-delivery"},
	{"feedstock-moisture-content", "Feedstock moisture content", "%", "input", "feedstock", "feedstock-delivery"},
	{"feedstock-transport-distance", "Feedstock transport distance (loaded)", "km", "input", "transport", "feedstock-delivery"},
	{"biochar-mass-produced", "Biochar mass produced (wet)", "t", "input", "production", "pyrolysis-run"},
	{"biochar-moisture-content", "Biochar moisture content", "%", "input", "production", "pyrolysis-run"},
	{"pyrolysis-temperature", "Pyrolysis temperature", "degC", "input", "production", "pyrolysis-run"},
	{"pyrolysis-methane", "Methane emitted (measured)", "kg", "input", "emissions", "pyrolysis-run"},
	{"electricity-consumed", "Electricity consumed", "kWh", "input", "energy", "facility-energy"},
	{"diesel-consumed", "Diesel consumed", "L", "input", "energy", "facility-energy"},
	{"organic-carbon-content", "Organic carbon content", "%", "input", "lab", "lab-analysis"},
	{"hydrogen-content", "Hydrogen content", "%", "input", "lab", "lab-analysis"},
	{"biochar-mass-delivered", "Biochar mass delivered (wet)", "t", "input", "transport", "biochar-delivery"},
	{"biochar-transport-distance", "Biochar transport distance (loaded)", "km", "input", "transport", "biochar-delivery"},
	{"soil-temperature", "Mean annual soil temperature", "degC", "input", "site", "site-static"},
	// Outputs of the models' runs.
	{"net-carbon-removal", "Net Carbon Removal", "t", "output", "removal", ""},
	{"gross-stored-co2e", "Gross carbon stored", "t CO2e", "output", "removal", ""},
	{"durable-stored-co2e", "Durable carbon stored", "t CO2e", "output", "removal", ""},
	{"feedstock-dry-mass", "Feedstock dry mass", "t", "output", "feedstock", ""},
	{"biochar-dry-mass", "Biochar dry mass", "t", "output", "production", ""},
	{"biochar-yield", "Biochar yield", "t/t", "output", "production", ""},
	{"h-corg-molar-ratio", "H/C_org molar ratio", "mol/mol", "output", "quality", ""},
	{"durability-factor", "Durability factor", "fraction", "output", "durability", ""},
	{"emissions-feedstock-transport", "Emissions from feedstock transport", "t CO2e", "output", "emissions", ""},
	{"emissions-production-energy", "Emissions from production energy", "t CO2e", "output", "emissions", ""},
	{"emissions-pyrolysis-methane", "Emissions from pyrolysis methane", "t CO2e", "output", "emissions", ""},
	{"emissions-biochar-transport", "Emissions from biochar transport", "t CO2e", "output", "emissions", ""},
	{"emissions-total", "Total emissions", "t CO2e", "output", "emissions", ""},
}

// catalog inserts eventTypeSeed and dataPointTypeSeed with their positional ids.
func (sd *seeder) catalog() error {
	for i, et := range eventTypeSeed {
		id := int64(i + 1)
		if _, err := sd.exec(`INSERT INTO event_types (id, slug, name, is_static) VALUES (?, ?, ?, ?)`, id, et.slug, et.name, et.static); err != nil {
			return err
		}
		sd.eventTypes[et.slug] = id
	}
	for i, t := range dataPointTypeSeed {
		id := int64(i + 1)
		var ev any
		if t.event != "" {
			ev = sd.eventTypes[t.event]
		}
		if _, err := sd.exec(`INSERT INTO data_point_types (id, slug, name, unit, value_type, category, subcategory, event_type_id) VALUES (?, ?, ?, ?, 'number', ?, ?, ?)`,
			id, t.slug, t.name, t.unit, t.category, t.subcategory, ev); err != nil {
			return err
		}
		sd.types[t.slug] = id
	}
	return nil
}
