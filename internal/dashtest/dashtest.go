// Package dashtest loads the Grafana dashboards in dashboards/ strictly and turns their panel queries into
// something tests can run: PromQL with Grafana's variables replaced, SQL with Grafana's macros expanded, and the
// metric names a PromQL expression reads. Only tests import it.
package dashtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	promds "github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Datasource types of the two provisioned datasources (dashboards/provisioning/datasources).
const (
	PrometheusType = "prometheus"
	PostgresType   = "grafana-postgresql-datasource"
)

// Query is one panel target.
type Query struct {
	Dashboard  string // dashboard uid
	PanelID    uint32
	PanelTitle string
	RefID      string
	Datasource string // PrometheusType or PostgresType
	Expr       string // PromQL, for Prometheus targets
	SQL        string // raw SQL, for PostgreSQL targets
	Format     string // PostgreSQL targets: table or time_series
}

// Name identifies q in failure messages.
func (q Query) Name() string {
	return fmt.Sprintf("%s/%d %q/%s", q.Dashboard, q.PanelID, q.PanelTitle, q.RefID)
}

var registerOnce sync.Once

// Load reads name from fsys and decodes it strictly with the Grafana Foundation SDK: unknown fields, wrong
// types or missing required fields in the dashboard, its panels, their options and Prometheus targets fail.
func Load(fsys fs.FS, name string) (*dashboard.Dashboard, error) { //nolint:staticcheck // SA1019: our dashboards are v1, not dashboardv2
	registerOnce.Do(plugins.RegisterDefaultPlugins)
	raw, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, err
	}
	var d dashboard.Dashboard //nolint:staticcheck // SA1019: our dashboards are v1, not dashboardv2
	if err := strictErr(d.UnmarshalJSONStrict(raw)); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	// PanelOrRowPanel.UnmarshalJSONStrict (SDK v0.0.22) takes the typed-nil error of a panel that decoded
	// cleanly for a failure and drops the panel, so decode the panels again, one by one, equally strictly.
	var rawPanels struct {
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(raw, &rawPanels); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	d.Panels = make([]dashboard.PanelOrRowPanel, len(rawPanels.Panels))
	for i, rp := range rawPanels.Panels {
		p := &dashboard.Panel{}
		if err := strictErr(p.UnmarshalJSONStrict(rp)); err != nil {
			return nil, fmt.Errorf("%s: panels[%d]: %w", name, i, err)
		}
		if p.Type == "row" {
			return nil, fmt.Errorf("%s: panels[%d]: row panels are not used", name, i)
		}
		// Panel.UnmarshalJSONStrict drops its targets for the same reason; decode them again too.
		targets, err := strictTargets(rp)
		if err != nil {
			return nil, fmt.Errorf("%s: panels[%d]: %w", name, i, err)
		}
		p.Targets = targets
		d.Panels[i].Panel = p
	}
	return &d, nil
}

// strictTargets decodes the targets of a raw panel: Prometheus targets strictly with the SDK's schema, others
// (PostgreSQL, for which the SDK has no schema) as variants.UnknownDataquery, checked later by Queries.
func strictTargets(rawPanel []byte) ([]variants.Dataquery, error) {
	var rp struct {
		Targets []json.RawMessage `json:"targets"`
	}
	if err := json.Unmarshal(rawPanel, &rp); err != nil {
		return nil, err
	}
	var out []variants.Dataquery
	for i, rt := range rp.Targets {
		var ds struct {
			Datasource struct {
				Type string `json:"type"`
			} `json:"datasource"`
		}
		if err := json.Unmarshal(rt, &ds); err != nil {
			return nil, fmt.Errorf("targets[%d]: %w", i, err)
		}
		if ds.Datasource.Type == PrometheusType {
			q := &promds.Dataquery{}
			if err := strictErr(q.UnmarshalJSONStrict(rt)); err != nil {
				return nil, fmt.Errorf("targets[%d]: %w", i, err)
			}
			out = append(out, q)
			continue
		}
		var q variants.UnknownDataquery
		if err := json.Unmarshal(rt, &q); err != nil {
			return nil, fmt.Errorf("targets[%d]: %w", i, err)
		}
		out = append(out, q)
	}
	return out, nil
}

// strictErr turns the SDK's typed-nil cog.BuildErrors (returned when there is no error) into nil.
func strictErr(err error) error {
	var be cog.BuildErrors
	if errors.As(err, &be) && len(be) == 0 {
		return nil
	}
	return err
}

// sqlTarget is every field a PostgreSQL target may carry; the SDK has no strict schema for PostgreSQL
// targets, so Queries decodes them with DisallowUnknownFields into this struct.
type sqlTarget struct {
	RefID      string `json:"refId"` //nolint:tagliatelle // format fixed by Grafana's PostgreSQL datasource
	Datasource struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	EditorMode string `json:"editorMode"` //nolint:tagliatelle // format fixed by Grafana's PostgreSQL datasource
	Format     string `json:"format"`
	RawQuery   bool   `json:"rawQuery"` //nolint:tagliatelle // format fixed by Grafana's PostgreSQL datasource
	RawSQL     string `json:"rawSql"`   //nolint:tagliatelle // format fixed by Grafana's PostgreSQL datasource
}

// Queries returns the targets of every panel of d. It fails on a panel without a datasource or targets, a
// target whose datasource differs from its panel's, and a target of any other datasource type.
func Queries(d *dashboard.Dashboard) ([]Query, error) { //nolint:staticcheck // SA1019: our dashboards are v1, not dashboardv2
	uid := deref(d.Uid)
	var out []Query
	var errs []error
	for _, pr := range d.Panels {
		p := pr.Panel
		if p == nil {
			errs = append(errs, errors.New("row panels are not used"))
			continue
		}
		title := deref(p.Title)
		if p.Id == nil {
			errs = append(errs, fmt.Errorf("panel %q has no id", title))
			continue
		}
		if p.Datasource == nil || p.Datasource.Type == nil || p.Datasource.Uid == nil {
			errs = append(errs, fmt.Errorf("panel %q has no datasource type and uid", title))
			continue
		}
		if len(p.Targets) == 0 {
			errs = append(errs, fmt.Errorf("panel %q has no targets", title))
		}
		dsType := *p.Datasource.Type
		for i, t := range p.Targets {
			q := Query{Dashboard: uid, PanelID: *p.Id, PanelTitle: title, Datasource: dsType}
			switch t := t.(type) {
			case *promds.Dataquery:
				if dsType != PrometheusType || t.Datasource == nil || deref(t.Datasource.Type) != dsType {
					errs = append(errs, fmt.Errorf("panel %q target %d: Prometheus target under datasource %q", title, i, dsType))
				}
				q.RefID, q.Expr = deref(t.RefId), t.Expr
			case variants.UnknownDataquery:
				raw, err := json.Marshal(t)
				if err != nil {
					return nil, err
				}
				var st sqlTarget
				dec := json.NewDecoder(bytes.NewReader(raw))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&st); err != nil {
					errs = append(errs, fmt.Errorf("panel %q target %d: %w", title, i, err))
					continue
				}
				if dsType != PostgresType || st.Datasource.Type != dsType || !st.RawQuery || st.RawSQL == "" {
					errs = append(errs, fmt.Errorf("panel %q target %d: want a raw SQL target of %s", title, i, PostgresType))
				}
				if st.Format != "table" && st.Format != "time_series" {
					errs = append(errs, fmt.Errorf("panel %q target %d: format %q", title, i, st.Format))
				}
				q.RefID, q.SQL, q.Format = st.RefID, st.RawSQL, st.Format
			default:
				errs = append(errs, fmt.Errorf("panel %q target %d: unexpected target type %T", title, i, t))
				continue
			}
			if q.RefID == "" {
				errs = append(errs, fmt.Errorf("panel %q target %d has no refId", title, i))
			}
			out = append(out, q)
		}
	}
	return out, errors.Join(errs...)
}

// ExpandPromQL replaces Grafana's interval variables in expr with rateInterval, e.g. "1m".
func ExpandPromQL(expr, rateInterval string) string {
	return strings.NewReplacer(
		"$__rate_interval", rateInterval,
		"$__interval", rateInterval,
		"$__range", rateInterval,
	).Replace(expr)
}

// MetricNames parses expr (after ExpandPromQL) with the Prometheus PromQL parser and returns the sorted, unique
// metric names its selectors read. A selector without a metric name is an error: dashboards must name metrics.
func MetricNames(expr string) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	var errs []error
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		if name == "" {
			errs = append(errs, fmt.Errorf("selector %s names no metric", vs))
			return nil
		}
		names = append(names, name)
		return nil
	})
	slices.Sort(names)
	return slices.Compact(names), errors.Join(errs...)
}

// BaseMetricName maps a histogram or summary series name to the metric family name it belongs to.
func BaseMetricName(series string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(series, suffix); ok {
			return base
		}
	}
	return series
}

var (
	macroRE    = regexp.MustCompile(`\$__(timeFilter|timeGroupAlias|timeGroup|timeFrom|timeTo)\(([^)]*)\)`)
	leftoverRE = regexp.MustCompile(`\$\w+`)
)

// ExpandSQL expands the Grafana PostgreSQL macros the dashboards use, as Grafana's PostgreSQL datasource does:
// $__timeFilter(col) → col BETWEEN 'from' AND 'to'; $__timeGroup(col, $__interval) →
// floor(extract(epoch from col)/s)*s; $__timeGroupAlias adds AS "time"; $__timeFrom() and $__timeTo() → the
// quoted bounds. $__interval is interval. Any other $variable left over is an error.
func ExpandSQL(q string, from, to time.Time, interval time.Duration) (string, error) {
	q = strings.ReplaceAll(q, "$__interval", interval.String())
	quote := func(t time.Time) string { return "'" + t.UTC().Format(time.RFC3339Nano) + "'" }
	var errs []error
	q = macroRE.ReplaceAllStringFunc(q, func(m string) string {
		sub := macroRE.FindStringSubmatch(m)
		args := strings.Split(sub[2], ",")
		for i := range args {
			args[i] = strings.TrimSpace(args[i])
		}
		switch sub[1] {
		case "timeFilter":
			return fmt.Sprintf("%s BETWEEN %s AND %s", args[0], quote(from), quote(to))
		case "timeFrom":
			return quote(from)
		case "timeTo":
			return quote(to)
		case "timeGroup", "timeGroupAlias":
			if len(args) < 2 {
				errs = append(errs, fmt.Errorf("%s needs a column and an interval", m))
				return m
			}
			d, err := time.ParseDuration(args[1])
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", m, err))
				return m
			}
			s := strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
			expr := fmt.Sprintf("floor(extract(epoch from %s)/%s)*%s", args[0], s, s)
			if sub[1] == "timeGroupAlias" {
				expr += ` AS "time"`
			}
			return expr
		}
		return m
	})
	if left := leftoverRE.FindAllString(q, -1); len(left) > 0 {
		errs = append(errs, fmt.Errorf("unexpanded variables %v in %s", left, q))
	}
	return q, errors.Join(errs...)
}

func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}
