package metrics

import "github.com/prometheus/client_golang/prometheus"

// Fleet counts what this replica does to share task polling with the
// others on one PostgreSQL database (internal/fleet). A nil *Fleet is valid
// and records nothing.
type Fleet struct {
	leads         *prometheus.CounterVec
	notifications *prometheus.CounterVec
	overflows     prometheus.Counter
}

// RegisterFleet adds the fleet's metrics: leads taken and lost, announcements
// sent and received, those too large for a NOTIFY, and, read at scrape time
// from leading, the tasks this replica polls for the fleet.
func (m *Metrics) RegisterFleet(leading func() int) *Fleet {
	if m == nil {
		return nil
	}
	f := &Fleet{
		leads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dashboard_fleet_task_leads_total",
			Help: "Task polling leads (PostgreSQL advisory locks) this replica took (acquired) or lost with its database connection (lost).",
		}, []string{"event"}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dashboard_fleet_notifications_total",
			Help: "Task snapshots announced to the other replicas (sent) and received from them (received) with NOTIFY.",
		}, []string{"direction"}),
		overflows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dashboard_fleet_notification_overflows_total",
			Help: "Announced snapshots too large for a NOTIFY payload, handed over through the fleet_snapshots table.",
		}),
	}
	m.reg.MustRegister(f.leads, f.notifications, f.overflows,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "dashboard_fleet_tasks_led",
			Help: "Tasks this replica polls for every replica (it holds their advisory locks).",
		}, func() float64 { return float64(leading()) }))
	for _, e := range []string{"acquired", "lost"} {
		f.leads.WithLabelValues(e)
	}
	for _, d := range []string{"sent", "received"} {
		f.notifications.WithLabelValues(d)
	}
	return f
}

func (f *Fleet) LeadAcquired() {
	if f != nil {
		f.leads.WithLabelValues("acquired").Inc()
	}
}

func (f *Fleet) LeadLost() {
	if f != nil {
		f.leads.WithLabelValues("lost").Inc()
	}
}

func (f *Fleet) NotifySent() {
	if f != nil {
		f.notifications.WithLabelValues("sent").Inc()
	}
}

func (f *Fleet) NotifyReceived() {
	if f != nil {
		f.notifications.WithLabelValues("received").Inc()
	}
}

func (f *Fleet) NotifyOverflow() {
	if f != nil {
		f.overflows.Inc()
	}
}
