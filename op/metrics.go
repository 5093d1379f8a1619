package op

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tether-id/tether/core"
)

// Metrics count what apps do at tether's OpenID Provider: sign-ins
// (authorizations and code redemptions), consents, refreshes and
// revocations, by app and outcome. Apps are the configured clients, so
// the labels stay few. A process makes them once and gives them to the
// Handler built from each reloaded configuration (Options.Metrics), so
// the counts go on across reloads.
type Metrics struct {
	authorizations *prometheus.CounterVec // client, outcome
	consents       *prometheus.CounterVec // client, answer
	tokens         *prometheus.CounterVec // client, grant_type, outcome
	revocations    *prometheus.CounterVec // client, outcome
}

// NewMetrics makes the metrics and registers them on reg; nil keeps
// them unregistered.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		authorizations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_op_authorizations_total",
			Help: "Authorization requests of apps, by outcome: code (sent to the app), login, consent (pages shown), or the OAuth error sent back.",
		}, []string{"client", "outcome"}),
		consents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_op_consents_total",
			Help: "Answers on the consent page: approve or deny.",
		}, []string{"client", "answer"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_op_token_requests_total",
			Help: "Token requests by grant type (authorization_code: an app's sign-in; refresh_token) and outcome (ok or the OAuth error).",
		}, []string{"client", "grant_type", "outcome"}),
		revocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_op_revocations_total",
			Help: "Token revocations by apps, by outcome.",
		}, []string{"client", "outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.authorizations, m.consents, m.tokens, m.revocations)
	}
	return m
}

// outcome is "ok" for a nil error, else its OAuth error code.
func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	return core.OAuthError(err)
}
