package promutil

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func newCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "logingest_test_total", Help: "Test counter."}, []string{"x"})
}

func TestRegister(t *testing.T) {
	t.Parallel()

	t.Run("NilRegistererReturnsCollector", func(t *testing.T) {
		t.Parallel()
		c := newCounter()
		got, err := Register(nil, c)
		require.NoError(t, err)
		require.Same(t, c, got)
	})

	t.Run("SecondRegistrationReusesExisting", func(t *testing.T) {
		t.Parallel()
		reg := prometheus.NewPedanticRegistry()
		first, err := Register(reg, newCounter())
		require.NoError(t, err)
		second, err := Register(reg, newCounter())
		require.NoError(t, err)
		require.Same(t, first, second)
		second.WithLabelValues("a").Inc()
		require.InDelta(t, 1.0, testutil.ToFloat64(first.WithLabelValues("a")), 0)
	})

	t.Run("ConflictingRegistrationErrors", func(t *testing.T) {
		t.Parallel()
		reg := prometheus.NewPedanticRegistry()
		_, err := Register(reg, newCounter())
		require.NoError(t, err)
		// Same name as newCounter's, different help and labels: the registry must refuse it.
		other := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "logingest_test_total", Help: "Different help."}, []string{"y"})
		_, err = Register(reg, other)
		require.Error(t, err)
	})
}
