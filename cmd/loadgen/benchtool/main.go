// Command benchtool holds the small helpers of cmd/loadgen/bench.sh (make
// bench) that would otherwise need curl, jq or python on the machine: the
// script only assumes bash, Go and (for PostgreSQL) psql.
//
//	benchtool field NAME < object.json          print one string field of a JSON object
//	benchtool freeport [N]                      print N free loopback TCP ports
//	benchtool wait -url URL [-timeout 60s] [-pid PID]
//	                                            wait until URL answers 200
//	benchtool check-token -token-url U -client-id ID -client-secret S -want opaque|ES256|RS256
//	                                            fetch one token and check its format
//	benchtool table [-db postgres|sqlite] FILE.json...
//	                                            print the markdown results table
//	benchtool heapstats -url URL                print the Go runtime's heap figures from
//	                                            a /debug/pprof/heap?debug=1 page (soak.sh)
//	benchtool serve-document -port P -redirect-uri U -ca-file F
//	                                            serve a client ID metadata document over
//	                                            HTTPS on loopback (prints its URL)
//
// The table reads the JSON that loadgen writes with -json (one object per
// repetition), takes the median over repetitions as loadgen's own summary
// does, and compares with the baseline: the figures of Ory Hydra v2.3.0
// measured on the same machine with the same harness.
//
// Standard library only; every network call is bounded in time and goes to
// loopback only.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "field":
		err = field(args)
	case "freeport":
		err = freeport(args)
	case "wait":
		err = wait(args)
	case "check-token":
		err = checkToken(args)
	case "table":
		err = table(os.Stdout, args)
	case "heapstats":
		err = heapstats(args)
	case "serve-document":
		err = serveDocument(args)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtool:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: benchtool field NAME | freeport [N] | wait -url URL [-timeout D] [-pid PID] | "+
		"check-token -token-url U -client-id ID -client-secret S -want opaque|ES256|RS256 | table [-db postgres|sqlite] FILE.json... | heapstats -url URL | serve-document -port P -redirect-uri U -ca-file F")
	os.Exit(2)
}
