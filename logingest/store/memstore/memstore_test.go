package memstore_test

import (
	"testing"

	"github.com/change66/logserver/logingest"
	"github.com/change66/logserver/logingest/store/memstore"
	"github.com/change66/logserver/logingest/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) logingest.Store { return memstore.New() }, nil)
}
