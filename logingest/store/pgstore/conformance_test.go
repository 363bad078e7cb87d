package pgstore_test

import (
	"testing"
	"time"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) logingest.Store {
		t.Helper()
		s, _ := setup(t, nil)
		return s
	}, &storetest.Options{TimePrecision: time.Microsecond})
}
