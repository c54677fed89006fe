package admin

import (
	"os"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testservices"
)

// TestMain says after the tests how many were skipped for want of
// PostgreSQL or Redis (testservices).
func TestMain(m *testing.M) { os.Exit(testservices.Main(m)) }
