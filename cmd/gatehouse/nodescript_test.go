package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// envRequireNode makes the tests that run a Node.js program fail instead
// of skipping when Node.js or the program's packages are missing; CI sets
// it (and installs the packages from their lockfiles).
const envRequireNode = "GATEHOUSE_TEST_REQUIRE_NODE"

// nodeWithPackages returns the path of node, with the packages of the
// program in dir installed (pkg is one of them, as a path under
// node_modules); it skips the test outside CI when either is missing,
// and fails it under envRequireNode. what names the program.
func nodeWithPackages(t *testing.T, dir, pkg, what string) string {
	t.Helper()
	missing := func(why string) {
		t.Helper()
		if os.Getenv(envRequireNode) != "" {
			t.Fatalf("%s (%s is set)", why, envRequireNode)
		}
		t.Skip(why)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("Node.js is not installed: " + what + " cannot run")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
		missing(what + ": its packages are not installed: run npm ci --prefix cmd/gatehouse/" + dir)
	}
	return node
}

// nodeScript is a Node.js program a test drives line by line: it writes
// one JSON object per line on stdout ({"error": ...} on a failure) and
// reads lines the test writes to its stdin.
type nodeScript struct {
	t      *testing.T
	name   string
	stdin  io.WriteCloser
	lines  *bufio.Scanner
	stderr *strings.Builder
}

// startNodeScript runs node script in dir with env added, for at most a
// minute; the process is waited for when the test ends.
func startNodeScript(t *testing.T, node, dir, script, name string, env ...string) *nodeScript {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	ns := &nodeScript{t: t, name: name, stdin: stdin, lines: bufio.NewScanner(stdout), stderr: &strings.Builder{}}
	cmd.Stderr = ns.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
		cancel()
	})
	return ns
}

// next returns the script's next message, failing the test when it stops
// or reports an error.
func (ns *nodeScript) next() map[string]json.RawMessage {
	ns.t.Helper()
	if !ns.lines.Scan() {
		ns.t.Fatalf("%s stopped: %v; stderr: %s", ns.name, ns.lines.Err(), ns.stderr.String())
	}
	var msg map[string]json.RawMessage
	if err := json.Unmarshal(ns.lines.Bytes(), &msg); err != nil {
		ns.t.Fatalf("%s said %q: %v", ns.name, ns.lines.Text(), err)
	}
	if e, ok := msg["error"]; ok {
		ns.t.Fatalf("%s failed: %s; stderr: %s", ns.name, e, ns.stderr.String())
	}
	return msg
}

// send writes line to the script's stdin.
func (ns *nodeScript) send(line string) {
	ns.t.Helper()
	if _, err := ns.stdin.Write([]byte(line + "\n")); err != nil {
		ns.t.Fatal(err)
	}
}
