// Package promutil registers collectors on an injected prometheus.Registerer without panicking when a second
// component registers the same metrics.
package promutil

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c on reg and returns the collector to use. When reg is nil, c is returned unregistered
// (promauto.With(nil) semantics). When an identical collector is already registered, the existing one is returned
// so two instances sharing a registry share their metrics, as promhttp.InstrumentMetricHandler does. Any other
// registration error is returned.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	var zero C
	return zero, fmt.Errorf("register metrics: %w", err)
}
