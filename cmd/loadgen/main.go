// Command loadgen is a small, provider-agnostic, closed-loop HTTP load
// generator for OAuth 2.0 / OIDC servers. It measures:
//
//	cc_token    POST token endpoint, grant_type=client_credentials (with -dpop,
//	            a fresh DPoP proof on every request, RFC 9449)
//	introspect  POST introspection endpoint (RFC 7662) on a token it obtained first
//	get         GET an arbitrary URL (e.g. /.well-known/jwks.json) as a trivial baseline
//	authcode    a whole authorization code flow per measured unit: authorize ->
//	            login form -> (consent) -> code -> token, one user agent per worker
//
// Every run is bounded in time and stops by itself. Only loopback targets are
// accepted. Standard library only, so it builds offline:
//
//	go build -o loadgen ./cmd/loadgen
//
// It is gatehouse's copy of the shared harness (../shared/bench/loadgen),
// kept identical in behaviour and flags so that figures measured with either
// compare; the authcode scenario and its flags are gatehouse's addition and
// change nothing in the other scenarios. cmd/loadgen/bench.sh (make bench)
// drives it against gatehouse and cmd/loadgen/benchtool turns its -json
// output into the README table.
//
// stdout: one machine-readable summary line per (scenario, conns), e.g.
//
//	scenario=cc_token conns=64 reps=3 rps=1234.5 rps_min=.. rps_max=.. p50_ms=.. p99_ms=.. errors=0 ...
//
// stderr: progress, one "rep" line per repetition (same key=value format);
// for authcode also one "steps" line per repetition with the requests of each
// step per flow.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"
)

func main() {
	cfg, err := parseFlags(flag.CommandLine, os.Args[1:])
	if err != nil {
		fatalf("%v", err)
	}
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(c config) error {
	scs, err := buildScenarios(c)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "# loadgen %s GOMAXPROCS=%d ncpu=%d label=%s scenarios=%v conns=%v duration=%s warmup=%s reps=%d server_pid=%d aux_comm=%s start=%s\n",
		runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU(), c.label, c.scenarios, c.conns, c.duration, c.warmup, c.reps, c.serverPID, c.auxComm, time.Now().UTC().Format(time.RFC3339))
	if c.serverPID > 0 {
		if _, ok := procTicks(c.serverPID, false); !ok {
			return fmt.Errorf("-server-pid %d: no such process", c.serverPID)
		}
		fmt.Fprintf(os.Stderr, "# server pid=%d comm=%s rss_mb_idle=%.1f\n", c.serverPID, procComm(c.serverPID), rssMB(c.serverPID))
	}
	// Hard stop in case something hangs: every run is bounded. A flow in
	// flight at the deadline may still send all its requests.
	var budget time.Duration
	for _, sc := range scs {
		tail := c.reqTimeout * time.Duration(max(sc.maxReqs, 1))
		budget += time.Duration(len(c.conns)*c.reps) * (c.duration + c.warmup + c.pause + tail + 5*time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	go func() {
		<-ctx.Done()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			fmt.Fprintln(os.Stderr, "loadgen: overall time budget exceeded, exiting")
			os.Exit(3)
		}
	}()

	var all []repResult
	for _, sc := range scs {
		results := map[int][]repResult{}
		for rep := 1; rep <= c.reps; rep++ {
			for _, n := range c.conns {
				r := runRep(c, sc, n, rep)
				all = append(all, r)
				results[n] = append(results[n], r)
				line := repLine(r)
				fmt.Fprintln(os.Stderr, line)
				if c.repsOnStdout {
					fmt.Println(line)
				}
				if c.pause > 0 {
					time.Sleep(c.pause)
				}
			}
		}
		for _, n := range c.conns {
			fmt.Println(summaryLine(results[n]))
		}
	}
	if c.jsonOut != "" {
		b, _ := json.MarshalIndent(all, "", "  ")
		if err := os.WriteFile(c.jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
