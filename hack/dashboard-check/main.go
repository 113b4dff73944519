// ddmsp-dashboard-check: a Grafana dashboard checked against Grafana's own dashboard schema
// (grafana-foundation-sdk: strict decoding, so an unknown or mistyped field fails, then the
// schema's constraints) and against the rules of Grafana's dashboard-linter that apply to a
// Prometheus dashboard (re-stated here: that module is not served by the Go proxy reachable
// from this project's machines). Usage: ddmsp-dashboard-check FILE...; exit 1 on a problem.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

var rangeFunc = regexp.MustCompile(`\b(rate|irate|increase|delta|idelta|deriv)\s*\(`)
var rangeSel = regexp.MustCompile(`\[([^\]]+)\]`)

// Panel types that show a number and so need a unit (dashboard-linter's panel-units-rule).
var unitPanels = map[string]bool{"stat": true, "singlestat": true, "timeseries": true,
	"graph": true, "bargauge": true, "gauge": true, "barchart": true}

type raw = map[string]any

func str(m raw, key string) string {
	s, _ := m[key].(string)
	return s
}

func datasourceUID(v any) string {
	if m, ok := v.(raw); ok {
		return str(m, "uid")
	}
	s, _ := v.(string)
	return s
}

func isDatasourceVar(uid string) bool {
	return uid == "${datasource}" || uid == "$datasource"
}

// lint applies dashboard-linter's rules for Prometheus dashboards to the decoded JSON.
func lint(d raw) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if str(d, "uid") == "" {
		add("uid-rule: the dashboard has no uid")
	}
	if str(d, "title") == "" {
		add("dashboard has no title")
	}
	// template-datasource-rule: a variable named datasource, of type datasource, for Prometheus.
	found := false
	templating, _ := d["templating"].(raw)
	vars, _ := templating["list"].([]any)
	for _, v := range vars {
		vm, _ := v.(raw)
		if str(vm, "name") == "datasource" {
			found = true
			if str(vm, "type") != "datasource" || str(vm, "query") != "prometheus" {
				add("template-datasource-rule: variable datasource must be type datasource, query prometheus")
			}
			continue
		}
		if str(vm, "type") == "query" && !isDatasourceVar(datasourceUID(vm["datasource"])) {
			add("template-datasource-rule: variable %s must use ${datasource}", str(vm, "name"))
		}
	}
	if !found {
		add("template-datasource-rule: no datasource template variable")
	}
	panels, _ := d["panels"].([]any)
	ids := map[float64]bool{}
	for _, p := range panels {
		pm, _ := p.(raw)
		title, kind := str(pm, "title"), str(pm, "type")
		if kind == "row" {
			continue
		}
		if id, ok := pm["id"].(float64); ok {
			if ids[id] {
				add("panel %q: duplicate id %v", title, id)
			}
			ids[id] = true
		}
		if title == "" || str(pm, "description") == "" {
			add("panel-title-description-rule: panel %q needs a title and a description", title)
		}
		if !isDatasourceVar(datasourceUID(pm["datasource"])) {
			add("panel-datasource-rule: panel %q must use the ${datasource} variable", title)
		}
		if unitPanels[kind] {
			fc, _ := pm["fieldConfig"].(raw)
			defaults, _ := fc["defaults"].(raw)
			if str(defaults, "unit") == "" {
				add("panel-units-rule: panel %q has no unit", title)
			}
		}
		targets, _ := pm["targets"].([]any)
		if len(targets) == 0 {
			add("panel %q has no query", title)
		}
		for _, t := range targets {
			tm, _ := t.(raw)
			expr := str(tm, "expr")
			if strings.TrimSpace(expr) == "" {
				add("target-promql-rule: panel %q has an empty query", title)
			}
			if ds, ok := tm["datasource"]; ok && !isDatasourceVar(datasourceUID(ds)) {
				add("panel-datasource-rule: a query of panel %q must use ${datasource}", title)
			}
			// target-rate-interval-rule: rate() and friends over $__rate_interval.
			if rangeFunc.MatchString(expr) {
				for _, m := range rangeSel.FindAllStringSubmatch(expr, -1) {
					if m[1] != "$__rate_interval" {
						add("target-rate-interval-rule: panel %q uses [%s], not [$__rate_interval]", title, m[1])
					}
				}
			}
		}
	}
	return problems
}

// schemaFailed: the SDK returns an empty cog.BuildErrors (a non-nil error) when all is well.
func schemaFailed(err error) bool {
	if errs, ok := err.(cog.BuildErrors); ok {
		return len(errs) > 0
	}
	return err != nil
}

func check(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	var d dashboard.Dashboard
	if err := d.UnmarshalJSONStrict(data); schemaFailed(err) {
		problems = append(problems, "schema: "+err.Error())
	} else if err := d.Validate(); schemaFailed(err) {
		problems = append(problems, "schema: "+err.Error())
	}
	var generic raw
	if err := json.Unmarshal(data, &generic); err != nil {
		return append(problems, err.Error())
	}
	return append(problems, lint(generic)...)
}

func main() {
	plugins.RegisterDefaultPlugins() // panel and query types known to the strict decoder
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: ddmsp-dashboard-check FILE...")
		os.Exit(2)
	}
	failed := false
	for _, path := range os.Args[1:] {
		for _, p := range check(path) {
			failed = true
			fmt.Printf("%s: %s\n", path, p)
		}
	}
	if failed {
		os.Exit(1)
	}
	fmt.Printf("%d dashboard(s) clean\n", len(os.Args)-1)
}
