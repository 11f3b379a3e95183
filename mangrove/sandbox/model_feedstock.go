package sandbox

import "fmt"

// Equations 1-2 of MODEL.md: feedstock dry mass and feedstock transport.

// readFeedstockDeliveries reads the partition's feedstock deliveries (equations 1-2).
func readFeedstockDeliveries(r *reader, in *modelInput, alerts *[]string) (fd, ftTkm float64) {
	for _, ev := range groupEvents(in.Partition, "feedstock-delivery") {
		wet, _ := r.get(ev, "feedstock-mass", true)
		moist, okM := r.get(ev, "feedstock-moisture-content", true)
		km, _ := r.get(ev, "feedstock-transport-distance", true)
		if okM && moist > 60 && !in.Skipped["feedstock-moisture-content"] {
			*alerts = append(*alerts, fmt.Sprintf("feedstock-moisture-content %.4g > 60", moist))
		}
		fd += wet * (1 - moist/100)
		ftTkm += wet * km
	}
	return fd, ftTkm
}

// addFeedstockCalcs records the feedstock dry mass (1) and the feedstock transport
// emissions (2), which it returns.
func addFeedstockCalcs(calcs *calcList, fd, ftTkm float64) float64 {
	calcs.add("feedstock-dry-mass", "Feedstock dry mass", fd, "t", "", "", "feedstock")
	calcs.add("feedstock-transport-tkm", "Feedstock transport work", ftTkm, "t-km", "", "", "transport")
	eFt := calcs.add("emissions-feedstock-transport", "Emissions from feedstock transport", ftTkm*fv("ef-road-freight"), "t CO2e", "co2e", "emission", "emissions")
	return eFt
}
