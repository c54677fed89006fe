#!/usr/bin/env bash
# soak.sh — gatehouse's memory soak (make soak).
#
# Starts gatehouse as bench.sh does (fresh database, rate limits off) with
# the profiler on the admin listener (GATEHOUSE_DEBUG_PPROF=true), then
# runs client_credentials (opaque tokens) at 64 connections for SOAK. It
# takes a heap profile and the server's RSS after a warm-up and again near
# the end, both under load and after a forced GC so that they compare, and
# samples RSS and the heap every RSS_EVERY. It prints RSS at start, end and
# max, heap in use at start and end, and the allocation sites that grew
# (go tool pprof -top -diff_base start.pb.gz end.pb.gz). The memory target
# is no growth over a 10-minute soak.
#
# Settings (environment):
#   DB=postgres|sqlite      database (default postgres)
#   SOAK=10m                length of the load (s, m, h; 10s to 200m)
#   SOAK_WARMUP=1m          when the start profile is taken; cut to a quarter
#                           of SOAK when it is more than half of it
#   SOAK_CONNS=64           connections
#   RSS_EVERY=30s           RSS and heap sampling interval
#   PG_HOST=127.0.0.1 PG_PORT=5432 PG_USER=postgres
#                           PostgreSQL with trust auth (loopback only)
#   RESULTS=dir             where the profiles, samples, logs and soak.md go
#                           (default: a new folder under ${TMPDIR:-/tmp}/gatehouse-soak-results)
#   READY_TIMEOUT=60s       how long to wait for the server to be ready
#   GATEHOUSE_*             passed through to gatehouse, except those lib.sh sets
#
# Every token is a row in the database: at a few thousand tokens/s a
# 10-minute soak writes a few million rows (the database is dropped at the
# end, and soak.md gives its size). Everything runs on loopback and stops by
# itself.
set -euo pipefail

DB=${DB:-postgres}
SOAK=${SOAK:-10m}
SOAK_WARMUP=${SOAK_WARMUP:-1m}
SOAK_CONNS=${SOAK_CONNS:-64}
RSS_EVERY=${RSS_EVERY:-30s}
PG_HOST=${PG_HOST:-127.0.0.1}
PG_PORT=${PG_PORT:-5432}
PG_USER=${PG_USER:-postgres}
READY_TIMEOUT=${READY_TIMEOUT:-60s}

lib_name=soak
# shellcheck source=cmd/loadgen/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lib_check_settings

# secs DURATION prints DURATION (e.g. 10m, 90s, 1m30s, 1h) in whole seconds.
secs() {
	local s=$1 total=0 n
	[[ $s =~ ^[0-9]+$ ]] && s="${s}s"
	while [[ $s =~ ^([0-9]+)([hms])(.*)$ ]]; do
		n=$((10#${BASH_REMATCH[1]}))
		case ${BASH_REMATCH[2]} in
		h) total=$((total + n * 3600)) ;;
		m) total=$((total + n * 60)) ;;
		s) total=$((total + n)) ;;
		esac
		s=${BASH_REMATCH[3]}
	done
	[[ -z $s ]] || return 1
	echo "$total"
}
soak_s=$(secs "$SOAK") || die "SOAK: '$SOAK' is not a duration such as 10m or 90s"
warm_s=$(secs "$SOAK_WARMUP") || die "SOAK_WARMUP: '$SOAK_WARMUP' is not a duration"
every_s=$(secs "$RSS_EVERY") || die "RSS_EVERY: '$RSS_EVERY' is not a duration"
# loadgen runs at most 20 repetitions of at most 10 minutes.
((soak_s >= 10 && soak_s <= 12000)) || die "SOAK must be between 10s and 200m, not $SOAK"
((every_s >= 1)) || die "RSS_EVERY must be at least 1s"
[[ $SOAK_CONNS =~ ^[0-9]+$ ]] && ((SOAK_CONNS >= 1 && SOAK_CONNS <= 4096)) || die "SOAK_CONNS must be in [1, 4096]"
if ((warm_s * 2 > soak_s)); then
	warm_s=$((soak_s / 4))
	echo "soak: SOAK_WARMUP is more than half of SOAK; the start profile is taken after ${warm_s}s" >&2
fi
# The end profile is taken a little before the load stops, so that both
# profiles are taken under the same load.
end_margin=$((soak_s / 10))
((end_margin < 2)) && end_margin=2
((end_margin > 10)) && end_margin=10
end_at=$((soak_s - end_margin))
# loadgen's -duration is at most 10m: longer soaks are back-to-back
# repetitions (each opens its connections anew).
reps=$(((soak_s + 599) / 600))
rep_s=$(((soak_s + reps - 1) / reps))

lib_init "${TMPDIR:-/tmp}/gatehouse-soak-results/$(date -u +%Y%m%dT%H%M%SZ)-$DB"
lib_build
lib_database
lib_server_env
export GATEHOUSE_DEBUG_PPROF=true
# go tool pprof keeps a copy of what it fetches under $PPROF_TMPDIR
# (default ~/pprof): keep that in the scratch folder.
export PPROF_TMPDIR="$work/pprof"

"$gh" migrate >&2
"$gh" clients create --name soak --grant-type client_credentials --scope api --json >"$work/client.json"
client_id=$("$tool" field client_id <"$work/client.json")
client_secret=$("$tool" field client_secret <"$work/client.json")

lib_start_server "$RESULTS/server.log"
token_url="$base/oauth2/token"
"$tool" check-token -token-url "$token_url" -client-id "$client_id" -client-secret "$client_secret" -want opaque >&2

pprof_base="http://127.0.0.1:$admin_port/debug/pprof"

rss_mb() {
	awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$server_pid/status" 2>/dev/null || echo na
}

# sample LABEL: one line of samples.txt with the elapsed time, RSS and the
# heap after a forced GC (gc=1; a GC every RSS_EVERY is nothing next to the
# load's own).
sample() {
	local hs
	hs=$("$tool" heapstats -url "$pprof_base/heap?debug=1&gc=1" 2>&1) || hs="heapstats_error=$(echo "$hs" | tr ' ' _)"
	echo "t_s=$((SECONDS - t0)) label=$1 rss_mb=$(rss_mb) $hs" | tee -a "$RESULTS/samples.txt" >&2
}

# profile NAME: the heap profile (after a forced GC) as NAME.pb.gz.
profile() {
	if ! timeout 60 go tool pprof -proto -output "$RESULTS/$1.pb.gz" "$pprof_base/heap?gc=1" >"$work/pprof-$1.log" 2>&1; then
		cat "$work/pprof-$1.log" >&2
		die "could not take the $1 heap profile"
	fi
}

# inuse FILE: the profile's in-use total (a sampled estimate), from the
# header of its -top report.
inuse() {
	go tool pprof -top -sample_index=inuse_space "$1" 2>/dev/null | sed -n 's/.* of \(.*\) total.*/\1/p' | awk 'NR == 1'
}

# kvget LINE KEY: the value of KEY in a key=value line.
kvget() {
	tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p" | awk 'NR == 1'
}

t0=$SECONDS
sample idle
idle_line=$(tail -n 1 "$RESULTS/samples.txt")

echo "soak: cc_token at $SOAK_CONNS connections for ${soak_s}s ($reps x ${rep_s}s); start profile at ${warm_s}s, end profile at ${end_at}s" >&2
# In the background so that a signal reaches the trap at once (bash defers
# traps while a foreground job runs) and so that this shell can sample.
"$work/loadgen" -label soak -scenarios cc_token -token-url "$token_url" -client-id "$client_id" -client-secret "$client_secret" \
	-conns "$SOAK_CONNS" -duration "${rep_s}s" -warmup 0 -reps "$reps" -pause 0 -server-pid "$server_pid" ${aux[@]+"${aux[@]}"} \
	-json "$RESULTS/soak.json" >"$RESULTS/soak.txt" 2>"$RESULTS/soak.log" &
loadgen_pid=$!
t0=$SECONDS
next_sample=$every_s
start_line="" end_line=""
# Bounded: loadgen stops by itself after SOAK; two minutes more is the
# most it may take to finish its last requests.
while kill -0 "$loadgen_pid" 2>/dev/null; do
	el=$((SECONDS - t0))
	if ((el > soak_s + 120)); then
		echo "soak: loadgen still running ${el}s after the start; stopping it" >&2
		kill -TERM "$loadgen_pid" 2>/dev/null || true
		break
	fi
	if [[ -z $start_line ]] && ((el >= warm_s)); then
		profile start
		sample start
		start_line=$(tail -n 1 "$RESULTS/samples.txt")
	fi
	if [[ -z $end_line ]] && ((el >= end_at)); then
		profile end
		sample end
		end_line=$(tail -n 1 "$RESULTS/samples.txt")
	fi
	if ((el >= next_sample)); then
		sample load
		next_sample=$((next_sample + every_s))
	fi
	kill -0 "$server_pid" 2>/dev/null || die "gatehouse exited during the soak; see $RESULTS/server.log"
	sleep 1
done
if ! wait "$loadgen_pid"; then
	loadgen_pid=""
	tail -n 5 "$RESULTS/soak.log" >&2
	die "loadgen failed (see $RESULTS/soak.log)"
fi
loadgen_pid=""
[[ -n $start_line && -n $end_line ]] || die "the load ended before both profiles were taken (see $RESULTS/soak.log)"
sleep 2
sample after
after_line=$(tail -n 1 "$RESULTS/samples.txt")

# ---- report -------------------------------------------------------------------

rss_max=$(sed -n 's/.* rss_mb=\([0-9.]*\) .*/\1/p' "$RESULTS/samples.txt" | sort -g | tail -n 1)
# loadgen's own peak RSS (sampled every 250 ms) catches peaks between samples.
lg_rss=$(sed -n 's/.*server_rss_mb_max=\([0-9.]*\) .*/\1/p' "$RESULTS/soak.txt" | awk 'NR == 1')
db_size=""
if [[ $DB == postgres ]]; then
	db_size=$(psql_bench -Atc "SELECT pg_size_pretty(pg_database_size(current_database()))" 2>/dev/null || echo unknown)
else
	db_size=$(du -ch "$work"/bench.db* 2>/dev/null | awk 'END {print $1}')
fi
# delta A B prints B - A with a sign (whole numbers stay whole).
delta() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/) print "n/a"
		else if (a ~ /^[0-9]+$/ && b ~ /^[0-9]+$/) printf "%+d", b - a
		else printf "%+.1f", b - a
	}'
}

{
	echo "## gatehouse memory soak"
	echo
	echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(uname -sr)"
	echo "- database: $db_desc; size at the end: $db_size"
	echo "- gatehouse: $(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown), $(go version | cut -d' ' -f3)"
	echo "- load: client_credentials (opaque tokens) at $SOAK_CONNS connections for ${soak_s}s; start profile after ${warm_s}s, end profile at ${end_at}s (both under load, after a forced GC)"
	echo "- loadgen: $(head -n 1 "$RESULTS/soak.txt")"
	echo
	echo "| | idle | start | end | end - start | after the load | max |"
	echo "|---|---|---|---|---|---|---|"
	echo "| RSS MB | $(kvget "$idle_line" rss_mb) | $(kvget "$start_line" rss_mb) | $(kvget "$end_line" rss_mb) | $(delta "$(kvget "$start_line" rss_mb)" "$(kvget "$end_line" rss_mb)") | $(kvget "$after_line" rss_mb) | $rss_max (loadgen's 250 ms sampling: ${lg_rss:-n/a}) |"
	echo "| heap in use MB (runtime) | $(kvget "$idle_line" heap_inuse_mb) | $(kvget "$start_line" heap_inuse_mb) | $(kvget "$end_line" heap_inuse_mb) | $(delta "$(kvget "$start_line" heap_inuse_mb)" "$(kvget "$end_line" heap_inuse_mb)") | $(kvget "$after_line" heap_inuse_mb) | |"
	echo "| heap objects | $(kvget "$idle_line" heap_objects) | $(kvget "$start_line" heap_objects) | $(kvget "$end_line" heap_objects) | $(delta "$(kvget "$start_line" heap_objects)" "$(kvget "$end_line" heap_objects)") | $(kvget "$after_line" heap_objects) | |"
	echo "| heap profile in use (sampled) | | $(inuse "$RESULTS/start.pb.gz") | $(inuse "$RESULTS/end.pb.gz") | | | |"
	echo
	echo "Samples (every ${every_s}s): samples.txt. Top growth of in-use memory between the two profiles"
	echo "(go tool pprof -top -sample_index=inuse_space -diff_base start.pb.gz end.pb.gz):"
	echo
	echo '```'
	go tool pprof -top -sample_index=inuse_space -diff_base "$RESULTS/start.pb.gz" "$RESULTS/end.pb.gz" 2>/dev/null | sed -n '/^Showing nodes/,$p' | awk 'NR <= 22'
	echo '```'
} >"$RESULTS/soak.md"
echo
cat "$RESULTS/soak.md"
echo
echo "soak: results in $RESULTS (soak.md, samples.txt, start.pb.gz, end.pb.gz, soak.json, logs)" >&2
