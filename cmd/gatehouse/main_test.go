package main

import (
	"os"
	"testing"
)

// TestMain runs the tests, then removes what they shared: the gatehouse
// binary the process tests build once (buildGatehouse).
func TestMain(m *testing.M) {
	code := m.Run()
	gatehouseBinary.remove()
	os.Exit(code)
}
