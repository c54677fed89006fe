package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The documentation's commands are run by TestDocumentedCommands, so that
// README.md, CONTRIBUTING.md and docs/*.md cannot drift from the CLI.
//
// Every fenced block tagged sh or bash is run, in order, by one bash
// session per file (set -euo pipefail), in a fresh directory, as a reader
// would type it, with these stand-ins for what the reader does by hand:
//
//   - `gatehouse` is the binary built from this package; `go run
//     ./cmd/gatehouse` and `./gatehouse` (after `go build -o gatehouse
//     ./cmd/gatehouse`, which copies it) run it too, and any other `go`
//     command fails (mark such a block not run).
//   - `gatehouse serve` starts in the background and the block goes on
//     once it is ready; a file that starts no server gets `serve --dev`
//     first. Ports are free loopback ports: the documented localhost:8080
//     and 127.0.0.1:8081 are replaced by them, and GATEHOUSE_ISSUER says
//     the same. GATEHOUSE_SECRET is set, so that commands shown without
//     --dev (as in production) work on the same ./data database.
//   - An assignment of a placeholder ending in "..." (`CLIENT_ID=...`,
//     `export GATEHOUSE_CLIENT_SECRET=gth_cs_...`) is the reader pasting
//     what the previous command printed under that name (client_id:,
//     "client_id":"…"; a GATEHOUSE_ prefix is dropped, and a name not
//     printed loses its first words until one is: RS_CLIENT_ID takes
//     client_id, REGISTRATION_TOKEN token).
//   - The reader's browser: `perform authorization-code` gets --open, and
//     xdg-open (open on macOS) is this test binary, which signs in as
//     docsPerson with docsPassword and allows the consent page.
//   - curl fails on an HTTP error status (--fail-with-body) unless the
//     line prints the status itself (-w '%{http_code}').
//
// A block that cannot run here (Docker, systemd, a real Google, an editor,
// the test suite itself) is preceded by a visible HTML comment
// `<!-- not run: why -->`; the test lists those blocks and their reasons.

const (
	// docsPerson and docsPassword are the person the documentation creates
	// and signs in as.
	docsPerson   = "alice@example.com"
	docsPassword = "correct horse battery staple"
	// docsBrowserEnv tells this test binary, started as xdg-open, to act
	// as the reader's browser.
	docsBrowserEnv = "GATEHOUSE_DOCS_TEST_BROWSER"
)

func init() {
	// Started as the reader's browser (see above): sign in and exit before
	// the tests run.
	if base := filepath.Base(os.Args[0]); (base == "xdg-open" || base == "open") && os.Getenv(docsBrowserEnv) != "" {
		err := docsBrowse(os.Args[len(os.Args)-1], docsPerson, docsPassword)
		if err != nil {
			// perform discards our output: leave it where the test finds it.
			_ = os.WriteFile(os.Getenv(docsBrowserEnv), []byte(err.Error()), 0o600)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

// docsBrowse follows an authorization URL like a person at a browser:
// sign in, allow, and follow the redirect back to the callback.
func docsBrowse(authURL, email, password string) error {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return err
	}
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	get := func(method, u string, form url.Values) (string, *url.URL, error) {
		req, err := http.NewRequest(method, u, strings.NewReader(form.Encode()))
		if err != nil {
			return "", nil, err
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := c.Do(req)
		if err != nil {
			return "", nil, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode != http.StatusOK {
			return "", nil, fmt.Errorf("%s %s: %d: %.300s", method, u, resp.StatusCode, b)
		}
		return string(b), resp.Request.URL, nil
	}
	body, at, err := get(http.MethodGet, authURL, nil)
	if err != nil {
		return err
	}
	p := &page{body: body}
	if p.isLoginPage() {
		form := p.formValues()
		form.Set("email", email)
		form.Set("password", password)
		if body, at, err = get(http.MethodPost, at.ResolveReference(&url.URL{Path: "/login"}).String(), form); err != nil {
			return err
		}
		p = &page{body: body}
	}
	if p.isConsentPage() {
		form := p.formValues()
		form.Set("decision", "allow")
		if body, at, err = get(http.MethodPost, at.ResolveReference(&url.URL{Path: "/consent"}).String(), form); err != nil {
			return err
		}
	}
	if at.Path != callbackPath {
		return fmt.Errorf("the browser ended at %s, not the callback: %.300s", at, body)
	}
	return nil
}

// docBlock is one fenced shell block of a documentation file.
type docBlock struct {
	line   int    // of the opening fence
	text   string // the commands
	notRun string // the reason given in <!-- not run: ... -->, if any
}

var notRunMarker = regexp.MustCompile(`^<!--\s*not run:\s*(.*?)\s*-->$`)

// docBlocks returns the sh and bash blocks of a markdown file.
func docBlocks(t *testing.T, path string) []docBlock {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []docBlock
	var cur *docBlock
	var lastText string // the last non-blank line outside a block
	inOther := false    // inside a block of another language
	for i, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if inOther {
			inOther = trimmed != "```"
			continue
		}
		if cur != nil {
			if trimmed == "```" {
				blocks = append(blocks, *cur)
				cur = nil
				lastText = "```"
				continue
			}
			cur.text += line + "\n"
			continue
		}
		if strings.HasPrefix(trimmed, "```") {
			lang := strings.TrimPrefix(trimmed, "```")
			if lang == "sh" || lang == "bash" || lang == "shell" || lang == "console" {
				cur = &docBlock{line: i + 1}
				if m := notRunMarker.FindStringSubmatch(lastText); m != nil {
					cur.notRun = m[1]
					if cur.notRun == "" {
						t.Errorf("%s:%d: a not-run marker must say why", path, i)
					}
				}
				continue
			}
			inOther = true
			lastText = ""
			continue
		}
		if trimmed != "" {
			lastText = trimmed
		}
	}
	if cur != nil {
		t.Errorf("%s:%d: a block is never closed", path, cur.line)
	}
	return blocks
}

// placeholder is an assignment of a value the reader pastes.
var placeholder = regexp.MustCompile(`\b([A-Z][A-Z0-9_]*)=("?)[^\s;"]*\.\.\.("?)`)

// servePrefix is a line that starts the server.
var servePrefix = regexp.MustCompile(`(?m)^(\s*)(?:go run \./cmd/gatehouse|gatehouse) serve\b`)

// docScript turns a file's runnable blocks into one bash script.
func docScript(path string, blocks []docBlock, public, admin string) (script string, ran int) {
	var sb strings.Builder
	startsServer := false
	for _, b := range blocks {
		if b.notRun == "" && servePrefix.MatchString(b.text) {
			startsServer = true
		}
	}
	if !startsServer {
		sb.WriteString("_serve serve --dev\n")
	}
	// The reader's ./gatehouse is the one `go build` made; running it
	// through the gatehouse stand-in lets its output be pasted.
	ports := strings.NewReplacer("localhost:8080", "localhost:"+portOf(public),
		"127.0.0.1:8080", public, "127.0.0.1:8081", admin, "./gatehouse ", "gatehouse ")
	for _, b := range blocks {
		if b.notRun != "" {
			continue
		}
		ran++
		fmt.Fprintf(&sb, "_block %q\n", fmt.Sprintf("%s:%d", path, b.line))
		text := strings.ReplaceAll(b.text, "\\\n", " ")
		for _, line := range strings.Split(text, "\n") {
			line = ports.Replace(line)
			line = servePrefix.ReplaceAllString(line, "${1}_serve serve")
			line = placeholder.ReplaceAllStringFunc(line, func(m string) string {
				name := placeholder.FindStringSubmatch(m)[1]
				key := strings.ToLower(strings.TrimPrefix(name, "GATEHOUSE_"))
				return name + `="$(_paste ` + key + `)"`
			})
			sb.WriteString(line + "\n")
		}
	}
	return sb.String(), ran
}

func portOf(hostport string) string { return hostport[strings.LastIndex(hostport, ":")+1:] }

// docPrelude defines the stand-ins for the reader (see the top of the
// file). $_work is the reader's directory.
const docPrelude = `set -euo pipefail
_last="$_work/.last-output"; : >"$_last"
_block() { printf '\n### %s\n' "$1" >&2; }
gatehouse() {
  local args=("$@")
  if [ "${1:-}" = perform ] && [ "${2:-}" = authorization-code ]; then args+=(--open); fi
  printf '+ gatehouse %s\n' "$*" >&2
  command gatehouse "${args[@]}" | tee "$_last"
  return "${PIPESTATUS[0]}"
}
go() {
  if [ "${1:-}" = run ] && [ "${2:-}" = ./cmd/gatehouse ]; then shift 2; gatehouse "$@"; return; fi
  if [ "$*" = "build -o gatehouse ./cmd/gatehouse" ]; then cp "$(type -P gatehouse)" ./gatehouse; return; fi
  echo "docs test: 'go $*' is not run here; mark the block <!-- not run: why -->" >&2
  return 1
}
curl() {
  local fail=(--fail-with-body)
  case " $* " in *"%{http_code}"*) fail=() ;; esac
  printf '+ curl %s\n' "$*" >&2
  command curl "${fail[@]}" "$@" | tee "$_last"
  local rc="${PIPESTATUS[0]}"; echo
  return "$rc"
}
_paste() {
  local name="$1" v
  while :; do
    v="$(sed -n -e "s/^$name:[[:space:]]*\([^[:space:]]*\).*/\1/p" -e "s/.*\"$name\":\"\([^\"]*\)\".*/\1/p" "$_last" | head -n1)"
    if [ -n "$v" ]; then printf '%s' "$v"; return; fi
    case "$name" in *_*) name="${name#*_}" ;; *) break ;; esac
  done
  echo "docs test: nothing to paste for $1 in the last output:" >&2; cat "$_last" >&2; return 1
}
_servers=()
# Stop the servers and wait for them, so that nothing writes to $_work
# once the script is done.
_stop() { for p in "${_servers[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
trap _stop EXIT
_serve() {
  printf '+ gatehouse %s (in the background)\n' "$*" >&2
  command gatehouse "$@" >>"$_work/.serve.log" 2>&1 &
  local pid=$!
  _servers+=("$pid")
  for _ in $(seq 1 600); do
    if command gatehouse health >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then cat "$_work/.serve.log" >&2; return 1; fi
    sleep 0.05
  done
  echo "docs test: gatehouse serve is not ready after 30s" >&2; cat "$_work/.serve.log" >&2; return 1
}
`

// docFiles are the files whose commands are run.
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"../../README.md", "../../CONTRIBUTING.md"}
	more, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	return append(files, more...)
}

func TestDocumentedCommands(t *testing.T) {
	t.Parallel()
	bash, err := exec.LookPath("bash")
	if err != nil {
		skipOrFail(t, "bash runs the documented commands: %v", err)
	}
	for _, tool := range []string{"curl", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			skipOrFail(t, "the documented commands use %s: %v", tool, err)
		}
	}
	bin := buildGatehouse(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	binDir := t.TempDir()
	// perform --open starts xdg-open (open on macOS) from the PATH.
	for name, target := range map[string]string{"gatehouse": bin, "xdg-open": self, "open": self} {
		if err := os.Symlink(target, filepath.Join(binDir, name)); err != nil {
			t.Fatal(err)
		}
	}

	total, skipped := 0, 0
	var reasons []string
	for _, path := range docFiles(t) {
		blocks := docBlocks(t, path)
		runnable := 0
		for _, b := range blocks {
			total++
			if b.notRun != "" {
				skipped++
				reasons = append(reasons, fmt.Sprintf("%s:%d: %s", strings.TrimPrefix(path, "../../"), b.line, b.notRun))
			} else {
				runnable++
			}
		}
		if runnable == 0 {
			continue
		}
		name := strings.TrimPrefix(path, "../../")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			runDocScript(t, bash, binDir, name, blocks)
		})
	}
	if total < 10 {
		t.Fatalf("found only %d shell blocks in the documentation; the parser is broken", total)
	}
	t.Logf("%d documented shell blocks, %d not run:\n%s", total, skipped, strings.Join(reasons, "\n"))
}

// runDocScript runs one file's blocks in a fresh directory.
func runDocScript(t *testing.T, bash, binDir, name string, blocks []docBlock) {
	out, ran, browser, err := execDocScript(t, bash, binDir, name, blocks)
	if err != nil {
		if browser != "" {
			t.Errorf("the browser: %s", browser)
		}
		t.Fatalf("%s: the documented commands failed (%v); the last block ran is the one that failed:\n%s", name, err, tail(out, 60))
	}
	if testing.Verbose() {
		t.Logf("%s: %d blocks ran:\n%s", name, ran, out)
	}
}

// execDocScript runs blocks in a fresh directory and returns the output,
// how many blocks ran, what the browser reported and bash's error.
func execDocScript(t *testing.T, bash, binDir, name string, blocks []docBlock) (string, int, string, error) {
	t.Helper()
	work := t.TempDir()
	public := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	admin := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	script, ran := docScript(name, blocks, public, admin)
	browserErr := filepath.Join(work, ".browser-error")

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bash, "-c", docPrelude+script)
	cmd.Dir = work
	cmd.Env = []string{
		"PATH=" + binDir + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + work,
		"TMPDIR=" + work,
		"LANG=C.UTF-8",
		"_work=" + work,
		"GATEHOUSE_LISTEN=" + public,
		"GATEHOUSE_ADMIN_LISTEN=" + admin,
		"GATEHOUSE_ISSUER=http://localhost:" + portOf(public),
		// Commands shown without --dev (production pages) then run on the
		// same database as those with it: the default DSN is --dev's.
		"GATEHOUSE_SECRET=" + randomString(t, 32),
		docsBrowserEnv + "=" + browserErr,
	}
	// Its own process group: the background server goes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	// The script stops its servers on exit; this stops anything else the
	// blocks left behind.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	browser, _ := os.ReadFile(browserErr)
	return out.String(), ran, string(browser), err
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// TestDocScriptStandIns checks what the reader's stand-ins turn a block
// into: ports, the server in the background, pasted values, not-run
// markers.
func TestDocScriptStandIns(t *testing.T) {
	t.Parallel()
	md := filepath.Join(t.TempDir(), "doc.md")
	text := "Intro\n\n```sh\ngo run ./cmd/gatehouse serve --dev\n```\n\n<!-- not run: needs Docker -->\n```sh\ndocker compose up\n```\n\n" +
		"```go\nfmt.Println()\n```\n\n```sh\nCLIENT_ID=...; RS_CLIENT_SECRET=gth_cs_...   # paste\n" +
		"export GATEHOUSE_CLIENT_SECRET=gth_cs_...\n./gatehouse perform client-credentials \\\n    --endpoint http://localhost:8080\n" +
		"curl -s http://127.0.0.1:8081/health/ready\n```\n"
	if err := os.WriteFile(md, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	blocks := docBlocks(t, md)
	if len(blocks) != 3 || blocks[1].notRun != "needs Docker" || blocks[0].notRun != "" || blocks[2].notRun != "" {
		t.Fatalf("blocks: %+v", blocks)
	}
	script, ran := docScript("doc.md", blocks, "127.0.0.1:40001", "127.0.0.1:40002")
	if ran != 2 {
		t.Errorf("ran %d blocks, want 2", ran)
	}
	for _, want := range []string{
		"_serve serve --dev\n",
		`CLIENT_ID="$(_paste client_id)"; RS_CLIENT_SECRET="$(_paste rs_client_secret)"`,
		`export GATEHOUSE_CLIENT_SECRET="$(_paste client_secret)"`,
		"gatehouse perform client-credentials      --endpoint http://localhost:40001",
		"curl -s http://127.0.0.1:40002/health/ready",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("the script lacks %q:\n%s", want, script)
		}
	}
	if strings.Contains(script, "docker") || strings.Count(script, "_serve serve") != 1 {
		t.Errorf("the script runs a not-run block or starts two servers:\n%s", script)
	}
}

// TestDocumentedCommandsCatchABrokenCommand makes sure the harness fails a
// documented command that fails, and one that pastes a value nobody
// printed.
func TestDocumentedCommandsCatchABrokenCommand(t *testing.T) {
	t.Parallel()
	bash, err := exec.LookPath("bash")
	if err != nil {
		skipOrFail(t, "bash runs the documented commands: %v", err)
	}
	bin := buildGatehouse(t)
	binDir := t.TempDir()
	if err := os.Symlink(bin, filepath.Join(binDir, "gatehouse")); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{
		"a misspelt flag":    "gatehouse clients list --dev --no-such-flag\n",
		"nothing to paste":   "gatehouse clients list --dev\nKEY_ID=...\n",
		"an HTTP error":      "curl -s http://localhost:8080/no-such-page\n",
		"an unknown go tool": "go vet ./...\n",
		"a later line fails": "gatehouse version\nfalse\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out, _, _, err := execDocScript(t, bash, binDir, name, []docBlock{{line: 1, text: text}})
			if err == nil {
				t.Fatalf("the harness passed a broken block:\n%s", out)
			}
		})
	}
}
