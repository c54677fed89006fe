// /proc sampling (Linux): the server's and helper processes' CPU ticks, the
// server's RSS, the machine's busy and steal time, and loadgen's own CPU.

package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const clkTck = 100.0 // USER_HZ on Linux

func procTicks(pid int, withChildren bool) (float64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+2:])
	// f[0] is field 3 (state); utime=14, stime=15, cutime=16, cstime=17
	if len(f) < 15 {
		return 0, false
	}
	get := func(field int) float64 { v, _ := strconv.ParseFloat(f[field-3], 64); return v }
	t := get(14) + get(15)
	if withChildren {
		t += get(16) + get(17)
	}
	return t, true
}

func procComm(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// auxTicks sums utime+stime(+reaped children) over every process named comm.
func auxTicks(comm string) float64 {
	if comm == "" {
		return 0
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var sum float64
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if procComm(pid) != comm {
			continue
		}
		if t, ok := procTicks(pid, true); ok {
			sum += t
		}
	}
	return sum
}

func rssMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseFloat(f[1], 64)
				return kb / 1024
			}
		}
	}
	return -1
}

type sysStat struct{ busy, total, steal float64 }

func readSysStat() sysStat {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return sysStat{}
	}
	line := strings.SplitN(string(b), "\n", 2)[0]
	f := strings.Fields(line)
	var v []float64
	for _, x := range f[1:] {
		n, _ := strconv.ParseFloat(x, 64)
		v = append(v, n)
	}
	// user nice system idle iowait irq softirq steal guest guest_nice
	var total float64
	for i, n := range v {
		if i >= 8 { // guest time is already included in user/nice
			break
		}
		total += n
	}
	idle := v[3]
	if len(v) > 4 {
		idle += v[4]
	}
	var steal float64
	if len(v) > 7 {
		steal = v[7]
	}
	return sysStat{busy: total - idle - steal, total: total, steal: steal}
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
