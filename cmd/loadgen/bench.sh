#!/usr/bin/env bash
# bench.sh — gatehouse's load benchmark (make bench / make bench-sqlite).
#
# Builds gatehouse and the load generator, starts gatehouse on a fresh
# database (PostgreSQL on 127.0.0.1:5432, or a SQLite file with DB=sqlite),
# registers the clients and the API key the scenarios need, runs
# cmd/loadgen over every scenario of issue 8 and prints one markdown table,
# compared with Ory Hydra v2.3.0 measured on the same machine.
#
# Settings (environment):
#   DB=postgres|sqlite      database (default postgres)
#   DURATION=20s WARMUP=3s REPS=3 CONNS=1,16,64 PAUSE=2s
#                           the issue's harness; loadgen bounds each
#   SCENARIOS=cc_opaque,cc_jwt,cc_apikey,introspect,jwks,discovery
#                           a subset to run (default: all)
#   PG_HOST=127.0.0.1 PG_PORT=5432 PG_USER=postgres
#                           PostgreSQL with trust auth (loopback only)
#   RESULTS=dir             where JSON, logs and summary.md go
#                           (default: a new folder under ${TMPDIR:-/tmp}/gatehouse-bench-results)
#   READY_TIMEOUT=60s       how long to wait for the server to be ready
#   GATEHOUSE_*             passed through to gatehouse (e.g.
#                           GATEHOUSE_DATABASE_MAX_OPEN_CONNS, GATEHOUSE_DEBUG_PPROF=true),
#                           except those this script sets below
#
# Everything runs on loopback and stops by itself: the server is killed and
# the database dropped on exit, whatever the outcome.
set -euo pipefail

DB=${DB:-postgres}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-3s}
REPS=${REPS:-3}
CONNS=${CONNS:-1,16,64}
PAUSE=${PAUSE:-2s}
SCENARIOS=${SCENARIOS:-cc_opaque,cc_jwt,cc_apikey,introspect,jwks,discovery}
PG_HOST=${PG_HOST:-127.0.0.1}
PG_PORT=${PG_PORT:-5432}
PG_USER=${PG_USER:-postgres}
READY_TIMEOUT=${READY_TIMEOUT:-60s}

die() {
	echo "bench: $*" >&2
	exit 1
}

case "$DB" in
postgres | sqlite) ;;
*) die "DB must be postgres or sqlite, not '$DB'" ;;
esac
case "$PG_HOST" in
127.0.0.1 | localhost | ::1) ;;
*) die "PG_HOST must be a loopback address (the benchmark measures this machine only), not '$PG_HOST'" ;;
esac
for s in ${SCENARIOS//,/ }; do
	case "$s" in
	cc_opaque | cc_jwt | cc_apikey | introspect | jwks | discovery) ;;
	*) die "unknown scenario '$s' in SCENARIOS" ;;
	esac
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

work=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-bench.XXXXXX")
RESULTS=${RESULTS:-${TMPDIR:-/tmp}/gatehouse-bench-results/$(date -u +%Y%m%dT%H%M%SZ)-$DB}
mkdir -p "$RESULTS"

server_pid=""
loadgen_pid=""
dbname=""
files=()

psql_admin() {
	# -w: never prompt for a password; the connect timeout bounds a dead server.
	PGCONNECT_TIMEOUT=5 psql -X -q -w -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres "$@"
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n "$loadgen_pid" ]]; then
		kill -TERM "$loadgen_pid" 2>/dev/null || true
		wait "$loadgen_pid" 2>/dev/null || true
	fi
	if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		# Graceful shutdown first, bounded; then force.
		for _ in $(seq 1 100); do
			kill -0 "$server_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	if [[ -n "$dbname" ]]; then
		psql_admin -c "DROP DATABASE IF EXISTS $dbname WITH (FORCE)" >/dev/null 2>&1 ||
			echo "bench: could not drop database $dbname; drop it by hand" >&2
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "bench: building gatehouse and the load generator" >&2
go build -o "$work/gatehouse" ./cmd/gatehouse
go build -o "$work/loadgen" ./cmd/loadgen
go build -o "$work/benchtool" ./cmd/loadgen/benchtool
gh="$work/gatehouse"
tool="$work/benchtool"

# ---- database ---------------------------------------------------------------

if [[ "$DB" == postgres ]]; then
	command -v psql >/dev/null || die "psql not found (DB=postgres needs the PostgreSQL client; or use DB=sqlite)"
	pg_version=$(psql_admin -Atc 'SHOW server_version') || die "PostgreSQL on $PG_HOST:$PG_PORT (user $PG_USER) is not reachable"
	dbname="gh_bench_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
	psql_admin -c "CREATE DATABASE $dbname" >/dev/null
	pg_url_host=$PG_HOST
	[[ "$pg_url_host" == *:* ]] && pg_url_host="[$pg_url_host]" # IPv6 literal in a URL
	export GATEHOUSE_DSN="postgres://$PG_USER@$pg_url_host:$PG_PORT/$dbname?sslmode=disable"
	db_desc="PostgreSQL $pg_version on $PG_HOST:$PG_PORT (fresh database $dbname)"
	aux=(-aux-comm postgres)
else
	export GATEHOUSE_DSN="sqlite://$work/bench.db"
	db_desc="SQLite (embedded), file on $(df -PT "$work" | awk 'NR==2 {print $2}') at $work"
	aux=()
fi

ports=$("$tool" freeport 2)
read -r port admin_port <<<"$ports"
[[ -n "$port" && -n "$admin_port" ]] || die "no free loopback ports"
base="http://127.0.0.1:$port"

GATEHOUSE_SECRET=$(head -c 48 /dev/urandom | base64 | tr -d '\n')
export GATEHOUSE_SECRET
export GATEHOUSE_ISSUER="$base"
export GATEHOUSE_LISTEN="127.0.0.1:$port"
export GATEHOUSE_ADMIN_LISTEN="127.0.0.1:$admin_port"
export GATEHOUSE_LOG_LEVEL=warn
# Opaque by default; the second client asks for JWTs itself, signed ES256.
export GATEHOUSE_ACCESS_TOKENS_FORMAT=opaque
export GATEHOUSE_ACCESS_TOKENS_SIGNING_ALG=ES256
# The whole load comes from one IP and, per scenario, one client: with the
# default limits (200/s per IP, 100/s per client) the run would measure the
# limiter's 429s, not the server. Hydra's figures were taken without limits.
export GATEHOUSE_RATE_LIMITS_ENABLED=false

# ---- machine ----------------------------------------------------------------

machine() {
	echo "## gatehouse load benchmark"
	echo
	echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr)"
	echo "- database: $db_desc"
	echo "- go: $(go version | cut -d' ' -f3-)"
	local rev
	rev=$(git -C "$root" describe --always --dirty 2>/dev/null || echo 'unknown (not a git checkout)')
	# describe --dirty ignores new files, which change what is measured too.
	if git -C "$root" status --porcelain 2>/dev/null | grep -q '^??'; then
		rev="$rev + untracked files"
	fi
	echo "- gatehouse: $rev"
	echo "- harness: cmd/loadgen, closed loop, keep-alive, conns $CONNS, $DURATION runs after $WARMUP warm-up, median of $REPS"
	echo "- rate limits: OFF (GATEHOUSE_RATE_LIMITS_ENABLED=false) — one IP and one client carry the whole load, so the"
	echo "  per-IP/per-client limits would answer 429 and the run would measure the limiter, not the server"
	local extra
	extra=$(env | grep '^GATEHOUSE_' | grep -v -E 'SECRET|_DSN=|_ISSUER=|_LISTEN=|_ADMIN_LISTEN=|_LOG_LEVEL=|_RATE_LIMITS_ENABLED=|_ACCESS_TOKENS_' | sort | tr '\n' ' ' || true)
	echo "- settings: access tokens opaque by default, JWT client signs ES256${extra:+; also $extra}"
}
machine | tee "$RESULTS/machine.md"
echo

# ---- schema, clients, API key -------------------------------------------------

"$gh" migrate >&2
"$gh" clients create --name bench --grant-type client_credentials --scope api --json >"$work/client.json"
"$gh" clients create --name bench-jwt --grant-type client_credentials --scope api \
	--access-token-format jwt --json >"$work/client-jwt.json"
client_id=$("$tool" field client_id <"$work/client.json")
client_secret=$("$tool" field client_secret <"$work/client.json")
jwt_id=$("$tool" field client_id <"$work/client-jwt.json")
jwt_secret=$("$tool" field client_secret <"$work/client-jwt.json")
"$gh" apikeys create --client "$client_id" --name bench --scope api --json >"$work/apikey.json"
api_key=$("$tool" field key <"$work/apikey.json")
# The secrets live only in $work (removed on exit), never in RESULTS or logs.

# ---- server -----------------------------------------------------------------

"$gh" serve >"$RESULTS/server.log" 2>&1 &
server_pid=$!
echo "bench: gatehouse pid $server_pid on $base (admin 127.0.0.1:$admin_port)" >&2
if ! "$tool" wait -url "http://127.0.0.1:$admin_port/health/ready" -timeout "$READY_TIMEOUT" -pid "$server_pid"; then
	tail -n 20 "$RESULTS/server.log" >&2 || true
	die "gatehouse did not become ready"
fi

token_url="$base/oauth2/token"
# A wrong setting must fail here, not produce a table of the wrong thing.
"$tool" check-token -token-url "$token_url" -client-id "$client_id" -client-secret "$client_secret" -want opaque >&2
"$tool" check-token -token-url "$token_url" -client-id "$jwt_id" -client-secret "$jwt_secret" -want ES256 >&2
"$tool" check-token -token-url "$token_url" -client-id "$client_id" -client-secret "$api_key" -want opaque >&2

# ---- load -------------------------------------------------------------------

# loadgen LABEL ARGS...: one scenario over the conns sweep. Summary lines go
# to the terminal, per-repetition lines to LABEL.log, every repetition as
# JSON to LABEL.json.
loadgen() {
	local label=$1
	shift
	echo "bench: $label (conns $CONNS x $REPS reps of $WARMUP + $DURATION)" >&2
	# In the background so that a signal reaches the trap at once instead
	# of after the run (bash defers traps while a foreground job runs).
	"$work/loadgen" -label "$label" -conns "$CONNS" -duration "$DURATION" -warmup "$WARMUP" \
		-reps "$REPS" -pause "$PAUSE" -server-pid "$server_pid" ${aux[@]+"${aux[@]}"} \
		-json "$RESULTS/$label.json" "$@" >"$RESULTS/$label.txt" 2>"$RESULTS/$label.log" &
	loadgen_pid=$!
	if ! wait "$loadgen_pid"; then
		loadgen_pid=""
		tail -n 5 "$RESULTS/$label.log" >&2
		die "loadgen $label failed (see $RESULTS/$label.log)"
	fi
	loadgen_pid=""
	tee -a "$RESULTS/summary.txt" <"$RESULTS/$label.txt"
	kill -0 "$server_pid" 2>/dev/null || die "gatehouse exited during $label; see $RESULTS/server.log"
	files+=("$RESULTS/$label.json")
}

# reset_tokens empties the token and audit tables between scenarios. Every
# token request inserts a row into each, so without this a scenario would
# run against tables grown by the ones before it (hundreds of thousands of
# rows, bigger indexes, autovacuum at work) and its place in the order
# would decide its figure.
reset_tokens() {
	if [[ $DB == postgres ]]; then
		PGCONNECT_TIMEOUT=5 psql -X -q -w -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$dbname" \
			-c "TRUNCATE oauth2_access, oauth2_refresh, audit_events" -c "VACUUM ANALYZE" >/dev/null
	elif command -v sqlite3 >/dev/null; then
		sqlite3 -cmd ".timeout 10000" "$work/bench.db" "DELETE FROM oauth2_access; DELETE FROM audit_events;" >/dev/null
	else
		echo "bench: sqlite3 not found: tables are not reset between scenarios" >&2
	fi
}

for s in ${SCENARIOS//,/ }; do
	reset_tokens
	case "$s" in
	cc_opaque)
		loadgen cc_opaque -scenarios cc_token -token-url "$token_url" -client-id "$client_id" -client-secret "$client_secret"
		;;
	cc_jwt)
		loadgen cc_jwt -scenarios cc_token -token-url "$token_url" -client-id "$jwt_id" -client-secret "$jwt_secret"
		;;
	cc_apikey)
		# An API key is presented exactly like the client secret.
		loadgen cc_apikey -scenarios cc_token -token-url "$token_url" -client-id "$client_id" -client-secret "$api_key"
		;;
	introspect)
		# loadgen fetches one opaque token first; the caller authenticates
		# as the first client with client_secret_basic.
		loadgen introspect -scenarios introspect -token-url "$token_url" -client-id "$client_id" -client-secret "$client_secret" \
			-introspect-url "$base/oauth2/introspect" -introspect-auth client
		;;
	jwks)
		loadgen jwks -scenarios get -get-url "$base/.well-known/jwks.json"
		;;
	discovery)
		loadgen discovery -scenarios get -get-url "$base/.well-known/openid-configuration"
		;;
	esac
done

# ---- table ------------------------------------------------------------------

{
	cat "$RESULTS/machine.md"
	echo
	"$tool" table -db "$DB" "${files[@]}"
} >"$RESULTS/summary.md"
echo
cat "$RESULTS/summary.md"
echo
echo "bench: results in $RESULTS (summary.md, one JSON and log per scenario, server.log)" >&2
