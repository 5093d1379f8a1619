package app_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// The files docs/ ships for operators.
const (
	dashboardFile = "../docs/grafana/tether.json"
	alertsFile    = "../docs/prometheus/alerts.yml"
)

// wantAlerts are the alerts docs/operations.md promises.
var wantAlerts = []string{
	"TetherSignInFailureRatioHigh", "TetherUpstreamErrors", "TetherUpstreamSlow", "TetherTokenReuse",
	"TetherMailFailing", "TetherDBPoolSaturated",
}

// ruleFile is Prometheus's rule file format (rule_files), strictly: a
// key Prometheus does not know fails the decoding.
type ruleFile struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Limit    int    `yaml:"limit"`
		Rules    []struct {
			Alert         string            `yaml:"alert"`
			Record        string            `yaml:"record"`
			Expr          string            `yaml:"expr"`
			For           string            `yaml:"for"`
			KeepFiringFor string            `yaml:"keep_firing_for"`
			Labels        map[string]string `yaml:"labels"`
			Annotations   map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// readAlerts checks the rule file's structure and returns each alert's
// expression by name.
func readAlerts(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: not a Prometheus rule file: %v", alertsFile, err)
	}
	if len(f.Groups) == 0 {
		t.Fatalf("%s: no groups", alertsFile)
	}
	exprs := map[string]string{}
	groups := map[string]bool{}
	for _, g := range f.Groups {
		if g.Name == "" || groups[g.Name] {
			t.Errorf("%s: group name %q empty or repeated", alertsFile, g.Name)
		}
		groups[g.Name] = true
		if len(g.Rules) == 0 {
			t.Errorf("%s: group %s has no rules", alertsFile, g.Name)
		}
		for _, r := range g.Rules {
			name := r.Alert + r.Record
			switch {
			case (r.Alert == "") == (r.Record == ""):
				t.Errorf("%s: a rule must have alert or record, not both or neither: %+v", alertsFile, r)
			case !model.LabelName(name).IsValidLegacy() && r.Record == "":
				t.Errorf("%s: alert name %q", alertsFile, name)
			case strings.TrimSpace(r.Expr) == "":
				t.Errorf("%s: %s has no expr", alertsFile, name)
			case exprs[name] != "":
				t.Errorf("%s: %s twice", alertsFile, name)
			}
			for _, d := range []string{r.For, r.KeepFiringFor} {
				if _, err := model.ParseDuration(d); d != "" && err != nil {
					t.Errorf("%s: %s: duration %q: %v", alertsFile, name, d, err)
				}
			}
			if r.Alert != "" && (r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "") {
				t.Errorf("%s: %s needs a severity label, a summary and a description", alertsFile, name)
			}
			for k := range r.Labels {
				if !model.LabelName(k).IsValidLegacy() {
					t.Errorf("%s: %s: label name %q", alertsFile, name, k)
				}
			}
			exprs[name] = r.Expr
		}
	}
	for _, a := range wantAlerts {
		if exprs[a] == "" {
			t.Errorf("%s: no alert %s", alertsFile, a)
		}
	}
	return exprs
}

// panel is the part of a Grafana panel the test reads.
type panel struct {
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	Targets    []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

// readDashboard checks the dashboard's shape and returns each query's
// expression, named by its panel.
func readDashboard(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID           string  `json:"uid"`
		Title         string  `json:"title"`
		SchemaVersion int     `json:"schemaVersion"`
		Panels        []panel `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion == 0 || len(d.Panels) == 0 {
		t.Fatalf("%s: not a dashboard (uid %q, title %q, schemaVersion %d, %d panels)", dashboardFile, d.UID, d.Title, d.SchemaVersion, len(d.Panels))
	}
	exprs := map[string]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Title == "" || len(p.Datasource) == 0 || len(p.Targets) == 0 {
				t.Errorf("%s: panel %q needs a title, a datasource and queries", dashboardFile, p.Title)
			}
			for _, q := range p.Targets {
				if strings.TrimSpace(q.Expr) == "" {
					t.Errorf("%s: panel %q, query %s: no expr", dashboardFile, p.Title, q.RefID)
				}
				exprs[p.Title+" "+q.RefID] = q.Expr
			}
		}
	}
	walk(d.Panels)
	return exprs
}

// selectorRe finds tether's metric names in PromQL, with the label
// matchers that follow one.
var (
	selectorRe = regexp.MustCompile(`\b(tether_[a-zA-Z0-9_]+)(\{[^}]*\})?`)
	matcherRe  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"`)
)

// targetLabels are added by Prometheus when it scrapes, so they are in
// no exposition.
var targetLabels = map[string]bool{"job": true, "instance": true}

// checkDocs checks that the dashboard and the alert rules are what
// Grafana and Prometheus load, and that every tether metric their
// expressions use is in x (a scrape of a tether that did what each
// counts), with the labels they select on and, for an exact match, a
// sample with that value.
func checkDocs(t *testing.T, x exposition) {
	exprs := readAlerts(t)
	for k, v := range readDashboard(t) {
		exprs[k] = v
	}
	used := 0
	for where, expr := range exprs {
		if err := balanced(expr); err != nil {
			t.Errorf("%s: %v in %s", where, err, expr)
		}
		found := selectorRe.FindAllStringSubmatch(expr, -1)
		if len(found) == 0 {
			t.Errorf("%s uses no tether metric: %s", where, expr)
		}
		for _, m := range found {
			used++
			name, matchers := m[1], m[2]
			f, _ := x.family(name)
			if f == nil {
				t.Errorf("%s uses %s, which tether does not serve", where, name)
				continue
			}
			for _, mm := range matcherRe.FindAllStringSubmatch(matchers, -1) {
				label, op, value := mm[1], mm[2], mm[3]
				if targetLabels[label] {
					continue
				}
				if !hasLabel(f, label, "") {
					t.Errorf("%s selects %s on label %s, which it does not have", where, name, label)
				} else if op == "=" && value != "" && !hasLabel(f, label, value) {
					t.Errorf("%s selects %s{%s=%q}, a value tether never gave it", where, name, label, value)
				}
			}
		}
	}
	if used == 0 {
		t.Fatal("the dashboard and the alerts use no tether metric")
	}
}

// hasLabel reports whether a sample of f has label (with value, unless
// value is "").
func hasLabel(f *dto.MetricFamily, label, value string) bool {
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label && (value == "" || l.GetValue() == value) {
				return true
			}
		}
	}
	return false
}

// balanced checks that an expression's brackets pair up outside its
// strings: a cheap guard against a broken edit, since the test has no
// PromQL parser.
func balanced(expr string) error {
	var stack []rune
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	quote := rune(0)
	for i, c := range expr {
		switch {
		case quote != 0:
			if c == quote && (i == 0 || expr[i-1] != '\\') {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '(' || c == '[' || c == '{':
			stack = append(stack, c)
		case pairs[c] != 0:
			if len(stack) == 0 || stack[len(stack)-1] != pairs[c] {
				return errUnbalanced
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) != 0 || quote != 0 {
		return errUnbalanced
	}
	return nil
}

var errUnbalanced = errors.New("unbalanced brackets or quotes")

// TestDashboardAndAlertsFiles checks the files alone, without a running
// tether: TestMetrics checks the metrics they use.
func TestDashboardAndAlertsFiles(t *testing.T) {
	readAlerts(t)
	readDashboard(t)
}
