// The load loop: closed-loop workers that send requests (or flows) back to
// back for a duration, and one repetition measured around them.

package main

import (
	"bytes"
	"fmt"
	"math"
	"net/http"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

type counters struct {
	errStatus, errTransport, errBody atomic.Int64
	reported                         atomic.Int64
	// nonceAnswers: DPoP nonce challenges taken up (not errors).
	nonceAnswers atomic.Int64
	// Flow scenarios: requests of each step and their summed latency
	// (ns), over successful flows only, so that their sum divided by the
	// flows is exactly the requests one measured unit costs.
	steps, stepNS [numSteps]atomic.Int64
}

func (ct *counters) report(format string, a ...any) {
	if ct.reported.Add(1) <= 3 {
		fmt.Fprintf(os.Stderr, "# error sample: "+format+"\n", a...)
	}
}

// drive runs `conns` closed-loop workers until `dur` has elapsed and returns
// the per-request latencies (successful responses only) in nanoseconds.
func drive(sc scenario, client *http.Client, conns int, dur time.Duration, ct *counters) ([]int64, time.Duration) {
	start := time.Now()
	deadline := start.Add(dur)
	lats := make([][]int64, conns)
	var wg sync.WaitGroup
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			buf := bytes.NewBuffer(make([]byte, 0, 16<<10))
			local := make([]int64, 0, 4096)
			for time.Now().Before(deadline) {
				if sc.flow != nil {
					t0 := time.Now()
					if sc.flow(w, client, ct) {
						local = append(local, int64(time.Since(t0)))
					}
					continue
				}
				req, err := sc.build()
				if err == nil && sc.prepare != nil {
					err = sc.prepare(w, req)
				}
				if err != nil {
					ct.errTransport.Add(1)
					ct.report("build: %v", err)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					ct.errTransport.Add(1)
					ct.report("transport: %v", err)
					time.Sleep(10 * time.Millisecond) // avoid spinning on refused connections
					continue
				}
				buf.Reset()
				_, rerr := buf.ReadFrom(resp.Body)
				resp.Body.Close()
				lat := time.Since(t0)
				if rerr != nil {
					ct.errTransport.Add(1)
					ct.report("read body: %v", rerr)
					continue
				}
				if sc.answer != nil {
					taken, aerr := sc.answer(w, resp.StatusCode, resp.Header, buf.Bytes())
					if taken {
						ct.nonceAnswers.Add(1)
						continue
					}
					if aerr != nil {
						ct.errStatus.Add(1)
						ct.report("%v: status %d: %s", aerr, resp.StatusCode, truncate(buf.Bytes(), 200))
						continue
					}
				}
				if resp.StatusCode < 200 || resp.StatusCode > 299 {
					ct.errStatus.Add(1)
					ct.report("status %d: %s", resp.StatusCode, truncate(buf.Bytes(), 200))
					continue
				}
				if !sc.check(resp.StatusCode, buf.Bytes()) {
					ct.errBody.Add(1)
					ct.report("unexpected body: %s", truncate(buf.Bytes(), 200))
					continue
				}
				local = append(local, int64(lat))
			}
			lats[w] = local
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	n := 0
	for _, l := range lats {
		n += len(l)
	}
	all := make([]int64, 0, n)
	for _, l := range lats {
		all = append(all, l...)
	}
	return all, elapsed
}

func runRep(c config, sc scenario, conns, rep int) repResult {
	client := newClient(conns, c.reqTimeout)
	defer client.CloseIdleConnections()
	var warm int64
	if c.warmup > 0 {
		var ct counters
		wl, _ := drive(sc, client, conns, c.warmup, &ct)
		warm = int64(len(wl))
	}

	var ct counters
	var serverT0, auxT0 float64
	serverOK := false
	if c.serverPID > 0 {
		serverT0, serverOK = procTicks(c.serverPID, false)
	}
	auxT0 = auxTicks(c.auxComm)
	sys0 := readSysStat()
	self0 := selfCPU()

	// RSS sampler
	stop := make(chan struct{})
	var rssMax atomic.Uint64
	var samplerWG sync.WaitGroup
	if c.serverPID > 0 {
		samplerWG.Add(1)
		go func() {
			defer samplerWG.Done()
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			for {
				if r := rssMB(c.serverPID); r > 0 && uint64(r*1024) > rssMax.Load() {
					rssMax.Store(uint64(r * 1024))
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
	}

	lats, elapsed := drive(sc, client, conns, c.duration, &ct)

	close(stop)
	samplerWG.Wait()
	self1 := selfCPU()
	sys1 := readSysStat()
	auxT1 := auxTicks(c.auxComm)
	wall := elapsed.Seconds()

	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	r := repResult{
		Label: c.label, Scenario: sc.name, Conns: conns, Rep: rep,
		DurS: wall, Reqs: int64(len(lats)), WarmupReqs: warm, RPS: float64(len(lats)) / wall,
		P50: pct(lats, 0.50), P90: pct(lats, 0.90), P99: pct(lats, 0.99), Max: pct(lats, 1.0),
		ErrStatus: ct.errStatus.Load(), ErrTransport: ct.errTransport.Load(), ErrBody: ct.errBody.Load(),
		DPoP: sc.dpop, DPoPNonceAnswers: ct.nonceAnswers.Load(),
		ServerCPU: -1, ServerRSSMB: -1, AuxCPU: -1,
		LoadgenCPU: 100 * (self1 - self0).Seconds() / wall,
	}
	if serverOK {
		if t1, ok := procTicks(c.serverPID, false); ok {
			r.ServerCPU = 100 * (t1 - serverT0) / clkTck / wall
		}
		r.ServerRSSMB = float64(rssMax.Load()) / 1024
	}
	if c.auxComm != "" {
		r.AuxCPU = 100 * (auxT1 - auxT0) / clkTck / wall
	}
	if sc.flow != nil {
		fmt.Fprintln(os.Stderr, stepsLine(r, &ct))
	}
	if dt := sys1.total - sys0.total; dt > 0 {
		r.SysCPU = 100 * (sys1.busy - sys0.busy) / dt
		r.StealPct = 100 * (sys1.steal - sys0.steal) / dt
		other := r.SysCPU*float64(runtime.NumCPU()) - r.LoadgenCPU
		if r.ServerCPU > 0 {
			other -= r.ServerCPU
		}
		if r.AuxCPU > 0 {
			other -= r.AuxCPU
		}
		r.OtherCPU = math.Max(0, other)
	}
	return r
}
