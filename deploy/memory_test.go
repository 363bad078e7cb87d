package deploy_test

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// mib parses a Kubernetes or Go memory quantity in Mi/MiB (the only unit the manifests use) into MiB.
func mib(t *testing.T, q string) float64 {
	t.Helper()
	num, ok := strings.CutSuffix(strings.TrimSuffix(q, "B"), "Mi")
	require.True(t, ok, "quantity %q must be in Mi or MiB", q)
	v, err := strconv.ParseFloat(num, 64)
	require.NoError(t, err)
	return v
}

// TestMemoryFormula checks k8s/ against the README's memory formula (section "Memory and hostile input"):
//
//	Go heap    = 48 MiB + 1.25 × MAX_INFLIGHT_BODIES_MB + MAX_CONNECTIONS × 32 KiB
//	GOMEMLIMIT ≥ Go heap
//	limit      ≥ GOMEMLIMIT / 0.75
//
// TestHostileInput (cmd/logserver) measures the worst legitimate load against the manifest's figures.
func TestMemoryFormula(t *testing.T) {
	t.Parallel()
	byKind := map[string]map[string]any{}
	for _, f := range []string{"deployment.yaml", "configmap.yaml"} {
		for _, doc := range decodeAll(t, readFile(t, filepath.Join("k8s", f))) {
			byKind[doc["kind"].(string)] = doc
		}
	}
	cm := get(t, byKind["ConfigMap"], "data").(map[string]any)
	num := func(name string, def float64) float64 {
		v, ok := cm[name].(string)
		if !ok || v == "" {
			return def
		}
		f, err := strconv.ParseFloat(v, 64)
		require.NoError(t, err, name)
		return f
	}
	body := num("MAX_REQUEST_SIZE_MB", 10)
	budget := num("MAX_INFLIGHT_BODIES_MB", 0)
	if budget == 0 {
		budget = 16 * body
	}
	conns := num("MAX_CONNECTIONS", 1024)
	require.Positive(t, conns, "the manifest caps connections")
	heap := 48 + 1.25*budget + conns*32/1024

	c := get(t, byKind["Deployment"], "spec", "template", "spec", "containers", "0")
	var gomemlimit float64
	for _, e := range get(t, c, "env").([]any) {
		if e.(map[string]any)["name"] == "GOMEMLIMIT" {
			gomemlimit = mib(t, e.(map[string]any)["value"].(string))
		}
	}
	require.Positive(t, gomemlimit, "the container sets GOMEMLIMIT")
	limit := mib(t, get(t, c, "resources", "limits", "memory").(string))

	require.GreaterOrEqual(t, gomemlimit, heap, "GOMEMLIMIT must hold the Go heap the in-flight budget needs")
	require.GreaterOrEqual(t, limit, gomemlimit/0.75, "limits.memory must leave a quarter above GOMEMLIMIT")
	t.Logf("budget %.0f MiB → Go heap %.0f MiB ≤ GOMEMLIMIT %.0f MiB; limit %.0f MiB ≥ %.0f MiB",
		budget, heap, gomemlimit, limit, gomemlimit/0.75)
}
