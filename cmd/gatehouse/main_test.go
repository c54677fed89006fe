package main

import (
	"flag"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testservices"
)

// minParallel is how many of this package's parallel tests run at once at
// least. They mostly wait on loopback HTTP and the database, so on a
// machine with few cores (where -parallel defaults to GOMAXPROCS) more of
// them than cores keep the cores busy: on two cores, four run the package
// in about three quarters of the time.
const minParallel = 4

// TestMain runs the tests, with -parallel at least minParallel unless it
// is given, then removes what they shared: the gatehouse binary the
// process tests build once (buildGatehouse).
func TestMain(m *testing.M) {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given && runtime.GOMAXPROCS(0) < minParallel {
		_ = flag.Set("test.parallel", strconv.Itoa(minParallel))
	}
	code := m.Run()
	gatehouseBinary.remove()
	testservices.Note(os.Stdout)
	os.Exit(code)
}
