package deploy_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/change66/logserver/logingest/httpapi"
	"github.com/change66/logserver/logingest/store/memstore"
)

// root is the repository root, relative to this package.
const root = ".."

func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	require.NoError(t, err)
	return b
}

// configVariables returns the variables config.example.env documents, with their example values.
func configVariables(t *testing.T) map[string]string {
	t.Helper()
	vars := map[string]string{}
	for line := range strings.SplitSeq(string(readFile(t, "config.example.env")), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			vars[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	require.Contains(t, vars, "SHUTDOWN_TIMEOUT")
	return vars
}

// decodeAll decodes every YAML document of b.
func decodeAll(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var docs []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs
		}
		require.NoError(t, err)
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

// get walks m along keys (map keys, or list indexes as decimal strings).
func get(t *testing.T, m any, keys ...string) any {
	t.Helper()
	for _, k := range keys {
		switch v := m.(type) {
		case map[string]any:
			var ok bool
			m, ok = v[k]
			require.True(t, ok, "missing key %q in %v", k, keys)
		case []any:
			i, err := strconv.Atoi(k)
			require.NoError(t, err)
			require.Less(t, i, len(v), "index %d in %v", i, keys)
			m = v[i]
		default:
			t.Fatalf("cannot take %q of %T in %v", k, m, keys)
		}
	}
	return m
}

func shutdownTimeout(t *testing.T, value string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(value)
	require.NoError(t, err, "SHUTDOWN_TIMEOUT %q", value)
	return d
}

// probeHandler is the real HTTP handler on an in-memory store, to check that probe paths are routes.
func probeHandler(t *testing.T) http.Handler {
	t.Helper()
	reg := prometheus.NewRegistry() // as cmd/logserver does; without a Gatherer there is no /metrics
	h, err := httpapi.NewOps(memstore.New(), &httpapi.OpsConfig{Logger: slog.New(slog.DiscardHandler), Registerer: reg, Gatherer: reg})
	require.NoError(t, err)
	return h
}

func requireRoute(t *testing.T, h http.Handler, p string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, p, nil))
	require.Equal(t, http.StatusOK, rec.Code, "GET %s", p)
}

func TestCompose(t *testing.T) {
	t.Parallel()
	var compose struct {
		Services map[string]struct {
			Build           any               `yaml:"build"`
			Image           string            `yaml:"image"`
			Environment     map[string]string `yaml:"environment"`
			Volumes         []string          `yaml:"volumes"`
			StopGracePeriod string            `yaml:"stop_grace_period"` //nolint:tagliatelle // format fixed by Docker Compose
			Ports           []string          `yaml:"ports"`
		} `yaml:"services"`
	}
	require.NoError(t, yaml.Unmarshal(readFile(t, "docker-compose.yml"), &compose))
	for _, name := range []string{"log-server", "postgres", "prometheus", "grafana", "redis"} {
		require.Contains(t, compose.Services, name)
	}

	// Every host path mounted or built exists in the repository.
	for name, svc := range compose.Services {
		for _, v := range svc.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if !strings.HasPrefix(src, ".") {
				continue // a named volume
			}
			_, err := os.Stat(filepath.Join(root, src))
			require.NoError(t, err, "service %s mounts %s", name, src)
		}
		if svc.Build != nil {
			ctx, ok := svc.Build.(string)
			require.True(t, ok, "service %s: build is a context path", name)
			_, err := os.Stat(filepath.Join(root, ctx, "Dockerfile"))
			require.NoError(t, err, "service %s builds %s", name, ctx)
		}
	}

	// logserver is configured only with variables it reads.
	vars := configVariables(t)
	ls := compose.Services["log-server"]
	require.NotEmpty(t, ls.Environment)
	for k := range ls.Environment {
		require.Contains(t, vars, k, "docker-compose.yml sets %s for log-server, which config.example.env does not list", k)
	}
	grace, err := time.ParseDuration(ls.StopGracePeriod)
	require.NoError(t, err)
	require.Greater(t, grace, shutdownTimeout(t, ls.Environment["SHUTDOWN_TIMEOUT"]),
		"stop_grace_period must exceed SHUTDOWN_TIMEOUT so a stop flushes queued events")
	require.Contains(t, ls.Ports, ls.Environment["PORT"]+":"+ls.Environment["PORT"])

	// Prometheus scrapes the log-server service on its port, as job "logserver" (the dashboard selects it).
	var prom struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`     //nolint:tagliatelle // format fixed by the Prometheus configuration file
			MetricsPath   string `yaml:"metrics_path"` //nolint:tagliatelle // format fixed by the Prometheus configuration file
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"` //nolint:tagliatelle // format fixed by the Prometheus configuration file
		} `yaml:"scrape_configs"` //nolint:tagliatelle // format fixed by the Prometheus configuration file
	}
	require.NoError(t, yaml.Unmarshal(readFile(t, "deploy/prometheus.yml"), &prom))
	var found bool
	for _, sc := range prom.ScrapeConfigs {
		if sc.JobName == "logserver" {
			found = true
			require.Equal(t, []string{"log-server:" + ls.Environment["PORT"]}, sc.StaticConfigs[0].Targets)
			requireRoute(t, probeHandler(t), sc.MetricsPath)
		}
	}
	require.True(t, found, "deploy/prometheus.yml has a job named logserver")
}

// TestGrafanaProvisioning checks that the provisioned datasources carry the uids and types the dashboards use,
// and that the dashboard provider reads the directory docker-compose.yml mounts the dashboards into.
func TestGrafanaProvisioning(t *testing.T) {
	t.Parallel()
	var ds struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
		} `yaml:"datasources"`
	}
	require.NoError(t, yaml.Unmarshal(readFile(t, "dashboards/provisioning/datasources/datasources.yml"), &ds))
	provisioned := map[string]string{}
	for _, d := range ds.Datasources {
		provisioned[d.UID] = d.Type
	}
	refRE := regexp.MustCompile(`"datasource":\s*\{\s*"type":\s*"([^"]+)",\s*"uid":\s*"([^"]+)"`)
	for _, f := range []string{"dashboards/analytics-overview.json", "dashboards/server-metrics.json"} {
		refs := refRE.FindAllStringSubmatch(string(readFile(t, f)), -1)
		require.NotEmpty(t, refs, f)
		for _, r := range refs {
			require.Equal(t, r[1], provisioned[r[2]], "%s uses datasource uid %q of type %q", f, r[2], r[1])
		}
	}

	var prov struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	require.NoError(t, yaml.Unmarshal(readFile(t, "dashboards/provisioning/dashboards/dashboards.yml"), &prov))
	require.Len(t, prov.Providers, 1)
	compose := string(readFile(t, "docker-compose.yml"))
	for _, f := range []string{"analytics-overview.json", "server-metrics.json"} {
		require.Contains(t, compose, "./dashboards/"+f+":"+path.Join(prov.Providers[0].Options.Path, f)+":ro")
	}
}

func TestKubernetes(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(root, "k8s", "*.yaml"))
	require.NoError(t, err)
	byKind := map[string]map[string]any{}
	for _, f := range files {
		for _, doc := range decodeAll(t, readFile(t, filepath.Join("k8s", filepath.Base(f)))) {
			kind, _ := doc["kind"].(string)
			require.NotEmpty(t, kind, f)
			require.NotEmpty(t, doc["apiVersion"], f)
			require.NotContains(t, byKind, kind, "one %s per directory", kind)
			byKind[kind] = doc
		}
	}
	for _, kind := range []string{"Deployment", "Service", "ConfigMap", "Secret", "Job"} {
		require.Contains(t, byKind, kind)
	}

	vars := configVariables(t)
	cm := get(t, byKind["ConfigMap"], "data").(map[string]any)
	secret := get(t, byKind["Secret"], "stringData").(map[string]any)
	for _, m := range []map[string]any{cm, secret} {
		for k, v := range m {
			require.Contains(t, vars, k, "k8s sets %s, which config.example.env does not list", k)
			_, isString := v.(string)
			require.True(t, isString, "%s must be a string in a ConfigMap or Secret", k)
		}
	}
	timeout := shutdownTimeout(t, vars["SHUTDOWN_TIMEOUT"])
	if v, ok := cm["SHUTDOWN_TIMEOUT"].(string); ok {
		timeout = shutdownTimeout(t, v)
	}

	pod := get(t, byKind["Deployment"], "spec", "template", "spec")
	grace, ok := get(t, pod, "terminationGracePeriodSeconds").(int)
	require.True(t, ok)
	require.Greater(t, time.Duration(grace)*time.Second, timeout, "terminationGracePeriodSeconds must exceed SHUTDOWN_TIMEOUT")
	require.Equal(t, true, get(t, pod, "securityContext", "runAsNonRoot"))

	h := probeHandler(t)
	c := get(t, pod, "containers", "0")
	require.Equal(t, "/readiness", get(t, c, "readinessProbe", "httpGet", "path"))
	require.Equal(t, "/liveness", get(t, c, "livenessProbe", "httpGet", "path"))
	for _, probe := range []string{"readinessProbe", "livenessProbe"} {
		requireRoute(t, h, get(t, c, probe, "httpGet", "path").(string))
		require.Equal(t, "http", get(t, c, probe, "httpGet", "port"))
	}
	require.Equal(t, cm["PORT"], strconv.Itoa(get(t, c, "ports", "0", "containerPort").(int)))
	require.NotEmpty(t, get(t, c, "resources", "requests"))
	require.NotEmpty(t, get(t, c, "resources", "limits"))
	require.Equal(t, "false", cm["AUTO_MIGRATE"], "the Job migrates; replicas must not race to")

	job := get(t, byKind["Job"], "spec", "template", "spec", "containers", "0")
	require.Equal(t, []any{"migrate", "up"}, get(t, job, "args"))
	require.Equal(t, get(t, c, "image"), get(t, job, "image"), "the Job migrates with the image it deploys")
	require.Equal(t, get(t, c, "envFrom"), get(t, job, "envFrom"), "the Job reaches the same database")

	svc := get(t, byKind["Service"], "spec")
	require.Equal(t, get(t, byKind["Deployment"], "spec", "selector", "matchLabels"), get(t, svc, "selector"))
	require.Equal(t, "http", get(t, svc, "ports", "0", "targetPort"))
}

// dockerignored reports whether the top-level path p is excluded by .dockerignore.
func dockerignored(t *testing.T, p string) bool {
	t.Helper()
	for line := range strings.SplitSeq(string(readFile(t, ".dockerignore")), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if ok, _ := filepath.Match(line, p); ok {
			return true
		}
	}
	return false
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	var copies, users, health int
	var final []string // instructions of the last stage
	sc := bufio.NewScanner(bytes.NewReader(readFile(t, "Dockerfile")))
	var cont string
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if s, ok := strings.CutSuffix(line, `\`); ok {
			cont += s + " "
			continue
		}
		line, cont = cont+line, ""
		fields := strings.Fields(line)
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			final = nil
		case "COPY":
			if strings.HasPrefix(fields[1], "--from=") {
				break
			}
			copies++
			for _, src := range fields[1 : len(fields)-1] {
				_, err := os.Stat(filepath.Join(root, src))
				require.NoError(t, err, "COPY source %s", src)
				top, _, _ := strings.Cut(path.Clean(src), "/")
				require.False(t, dockerignored(t, top), "COPY source %s is excluded by .dockerignore", src)
			}
		case "USER":
			users++
			require.NotContains(t, []string{"root", "0", "0:0"}, fields[1], "the image runs as a non-root user")
		case "HEALTHCHECK":
			health++
			require.Contains(t, line, "/liveness")
		case "RUN":
			if strings.Contains(line, "go build") {
				require.Contains(t, line, "CGO_ENABLED=0", "the binary is static")
			}
		}
		final = append(final, strings.ToUpper(fields[0]))
	}
	require.NoError(t, sc.Err())
	require.Positive(t, copies)
	require.Equal(t, 1, users)
	require.Equal(t, 1, health)
	require.Contains(t, final, "USER", "the final stage runs as the non-root user")
	requireRoute(t, probeHandler(t), "/liveness")
}
