package app

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/metrics"
)

// outcomes are tether's outcome metrics (package metrics) and each
// surface's view of them. Like the HTTP metrics they are made once, in
// New, and shared by every generation, so that the counts go on across
// reloads.
type outcomes struct {
	*metrics.Metrics
	cloudreve, versia, web, op *metrics.Surface
}

// newOutcomes makes the outcome metrics and registers them on reg, with
// the collector of the store's connection pools. Their provider labels
// are the providers of the running configuration, whichever reload made
// it.
func (a *App) newOutcomes(cfg *config.Config, reg prometheus.Registerer) outcomes {
	ids := make([]string, 0, len(cfg.Providers))
	for _, p := range cfg.Providers {
		ids = append(ids, p.ID)
	}
	m := metrics.New(metrics.Options{Providers: ids, Known: func(id string) bool {
		g := a.current()
		if g == nil {
			return false
		}
		_, ok := g.svc.Provider(id)
		return ok
	}})
	reg.MustRegister(m, metrics.DB(a.Store.Stats))
	return outcomes{
		Metrics:   m,
		cloudreve: m.Surface(metrics.Cloudreve),
		versia:    m.Surface(metrics.Versia),
		web:       m.Surface(metrics.Web),
		op:        m.Surface(metrics.OP),
	}
}
