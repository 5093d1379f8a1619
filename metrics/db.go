package metrics

import (
	"database/sql"

	"github.com/prometheus/client_golang/prometheus"
)

// DB returns a collector of the database's connection pools: stats is
// read at each scrape (sqlstore.Store.Stats), so the figures are the
// pools' own, never a copy that could drift. The pool label names each
// pool: write and read for SQLite's writer and read pool, main for
// PostgreSQL's one pool (and SQLite in memory, which reads on the
// writer).
func DB(stats func() map[string]sql.DBStats) prometheus.Collector {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, []string{"pool"}, nil)
	}
	return &dbCollector{
		stats:    stats,
		maxOpen:  desc("tether_db_max_open_connections", "Connections the pool may open (0: no limit)."),
		open:     desc("tether_db_open_connections", "Connections open, in use or idle."),
		inUse:    desc("tether_db_in_use_connections", "Connections in use."),
		idle:     desc("tether_db_idle_connections", "Connections idle."),
		waits:    desc("tether_db_wait_count_total", "Times a query waited for a connection because all were in use."),
		waitTime: desc("tether_db_wait_duration_seconds_total", "Time spent waiting for a connection."),
	}
}

type dbCollector struct {
	stats                                       func() map[string]sql.DBStats
	maxOpen, open, inUse, idle, waits, waitTime *prometheus.Desc
}

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.maxOpen, c.open, c.inUse, c.idle, c.waits, c.waitTime} {
		ch <- d
	}
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	for pool, s := range c.stats() {
		ch <- prometheus.MustNewConstMetric(c.maxOpen, prometheus.GaugeValue, float64(s.MaxOpenConnections), pool)
		ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(s.OpenConnections), pool)
		ch <- prometheus.MustNewConstMetric(c.inUse, prometheus.GaugeValue, float64(s.InUse), pool)
		ch <- prometheus.MustNewConstMetric(c.idle, prometheus.GaugeValue, float64(s.Idle), pool)
		ch <- prometheus.MustNewConstMetric(c.waits, prometheus.CounterValue, float64(s.WaitCount), pool)
		ch <- prometheus.MustNewConstMetric(c.waitTime, prometheus.CounterValue, s.WaitDuration.Seconds(), pool)
	}
}
