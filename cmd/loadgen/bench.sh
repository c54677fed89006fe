#!/usr/bin/env bash
# bench.sh — gatehouse's load benchmark (make bench / make bench-sqlite).
#
# Builds gatehouse and the load generator, starts gatehouse on a fresh
# database (PostgreSQL on 127.0.0.1:5432, or a SQLite file with DB=sqlite),
# registers the clients and the API key the scenarios need, runs
# cmd/loadgen over every scenario of the performance targets and prints one
# markdown table, compared with Ory Hydra v2.3.0 measured on the same
# machine (the baseline).
#
# Settings (environment):
#   DB=postgres|sqlite      database (default postgres)
#   DURATION=20s WARMUP=3s REPS=3 CONNS=1,16,64 PAUSE=2s
#                           the baseline's settings; loadgen bounds each
#   SCENARIOS=cc_opaque,cc_jwt,cc_apikey,introspect,jwks,discovery,authcode
#                           a subset to run (default: these); also available:
#                           authcode_consent (a third-party client: consent
#                           given in the first flow, then remembered),
#                           authcode_session (the browser session kept, so
#                           flows skip the login form), authcode_passkey
#                           (each flow signs in with a passkey, no password;
#                           the issuer becomes http://localhost:PORT, as
#                           passkeys need a domain name) and authcode_totp
#                           (password, then a code from an authenticator app);
#                           authcode_public and authcode_document (the browser
#                           session kept, consent remembered: authorize + token
#                           of a public client, registered vs. known by its
#                           client ID metadata document, served over HTTPS on
#                           loopback by benchtool; the server then has
#                           client_id_metadata_documents on and trusts that
#                           document server's certificate); exchange_delegation
#                           and exchange_impersonation (RFC 8693 token
#                           exchange of an opaque access token, with and
#                           without an actor token); cc_dpop and cc_dpop_jwt
#                           (cc_opaque and cc_jwt with a fresh DPoP proof,
#                           RFC 9449 ES256, on every request: the same
#                           clients, compared with those rows of the run)
#   DPOP_REPLAY=database|redis
#                           where gatehouse records the proofs used (RFC 9449
#                           §11.1) in cc_dpop*: the database (dpop_proofs,
#                           the default) or Redis (REDIS_URL; the default
#                           with RATE_LIMITS=redis, which shares it).
#                           GATEHOUSE_DPOP_REQUIRE_NONCE=true makes the
#                           server ask for its nonces: loadgen takes them up
#   TOTP_ACCOUNTS=2400      accounts authcode_totp signs in with: a code is
#                           accepted once, so each account signs in at most
#                           once per 30 s; give about the flows/s x 30
#                           (loadgen counts an error when none is free)
#   PG_HOST=127.0.0.1 PG_PORT=5432 PG_USER=postgres
#                           PostgreSQL with trust auth (loopback only)
#   RESULTS=dir             where JSON, logs and summary.md go
#                           (default: a new folder under ${TMPDIR:-/tmp}/gatehouse-bench-results)
#   READY_TIMEOUT=60s       how long to wait for the server to be ready
#   RATE_LIMITS=off|local|redis
#                           off (default) as Hydra's figures were taken;
#                           local/redis check the limits on every request with
#                           budgets never reached, to measure the limiter's cost
#   REDIS_URL=redis://127.0.0.1:6379/15
#                           the (loopback) Redis for RATE_LIMITS=redis
#   GATEHOUSE_*             passed through to gatehouse (e.g.
#                           GATEHOUSE_DATABASE_MAX_OPEN_CONNS, GATEHOUSE_DEBUG_PPROF=true),
#                           except those this script sets below
#
# Everything runs on loopback and stops by itself: the server is killed and
# the database dropped on exit, whatever the outcome. What soak.sh shares
# with this script is in lib.sh.
set -euo pipefail

DB=${DB:-postgres}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-3s}
REPS=${REPS:-3}
CONNS=${CONNS:-1,16,64}
PAUSE=${PAUSE:-2s}
SCENARIOS=${SCENARIOS:-cc_opaque,cc_jwt,cc_apikey,introspect,jwks,discovery,authcode}
PG_HOST=${PG_HOST:-127.0.0.1}
PG_PORT=${PG_PORT:-5432}
PG_USER=${PG_USER:-postgres}
READY_TIMEOUT=${READY_TIMEOUT:-60s}

lib_name=bench
# shellcheck source=cmd/loadgen/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lib_check_settings
authcode=false # whether a user and the sign-in clients are needed
passkey=false  # a user who signs in with a passkey
totp=false     # a pool of users with an authenticator app
document=false # a client known by its metadata document (and its server)
dpop=false     # DPoP proofs, and where the server records them
TOTP_ACCOUNTS=${TOTP_ACCOUNTS:-2400}
for s in ${SCENARIOS//,/ }; do
	case "$s" in
	cc_opaque | cc_jwt | cc_apikey | introspect | jwks | discovery) ;;
	exchange_delegation | exchange_impersonation) ;;
	cc_dpop | cc_dpop_jwt) dpop=true ;;
	authcode | authcode_consent | authcode_session) authcode=true ;;
	authcode_passkey) authcode=true passkey=true ;;
	authcode_totp) authcode=true totp=true ;;
	authcode_public) authcode=true ;;
	authcode_document) authcode=true document=true ;;
	*) die "unknown scenario '$s' in SCENARIOS" ;;
	esac
done

[[ $TOTP_ACCOUNTS =~ ^[1-9][0-9]*$ ]] || die "TOTP_ACCOUNTS must be a positive number"
default_replay=database
[[ ${RATE_LIMITS:-off} == redis ]] && default_replay=redis
DPOP_REPLAY=${DPOP_REPLAY:-$default_replay}
case "$DPOP_REPLAY" in
database) [[ ${RATE_LIMITS:-off} == redis ]] && die "DPOP_REPLAY=database: with RATE_LIMITS=redis gatehouse keeps the proofs in that Redis too" ;;
redis) lib_check_redis_url ;;
*) die "DPOP_REPLAY must be database or redis, not '$DPOP_REPLAY'" ;;
esac
[[ $passkey == true ]] && lib_issuer_host=localhost

lib_init "${TMPDIR:-/tmp}/gatehouse-bench-results/$(date -u +%Y%m%dT%H%M%SZ)-$DB"
files=()
lib_build

# ---- database ---------------------------------------------------------------

lib_database
lib_server_env
if [[ $dpop == true ]]; then
	# gatehouse keeps the DPoP proofs it has seen in Redis when it has one,
	# in the database otherwise.
	if [[ $DPOP_REPLAY == redis ]]; then
		export GATEHOUSE_REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/15}"
	else
		unset GATEHOUSE_REDIS_URL
	fi
fi

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
	case "${RATE_LIMITS:-off}" in
	off)
		echo "- rate limits: OFF (GATEHOUSE_RATE_LIMITS_ENABLED=false) — one IP and one client carry the whole load, so the"
		echo "  per-IP/per-client limits would answer 429 and the run would measure the limiter, not the server"
		;;
	*)
		echo "- rate limits: ON, checked on every request with budgets of 1,000,000/s (never reached), limiter: $RATE_LIMITS"
		;;
	esac
	local extra
	extra=$(env | grep '^GATEHOUSE_' | grep -v -E 'SECRET|_DSN=|_ISSUER=|_LISTEN=|_ADMIN_LISTEN=|_LOG_LEVEL=|_RATE_LIMITS_|_REDIS_URL=|_ACCESS_TOKENS_' | sort | tr '\n' ' ' || true)
	echo "- settings: access tokens opaque by default, JWT client signs ES256${extra:+; also $extra}"
	if [[ $dpop == true ]]; then
		echo "- DPoP (cc_dpop*): loadgen signs a fresh ES256 proof per request (one P-256 key per connection; untimed, in its own"
		echo "  CPU); gatehouse records each proof in $([[ $DPOP_REPLAY == redis ]] && echo Redis || echo 'the database (dpop_proofs)');" \
			"server nonces $([[ ${GATEHOUSE_DPOP_REQUIRE_NONCE:-false} == true ]] && echo required || echo 'not required')"
	fi
	if [[ $authcode == true ]]; then
		echo "- authorization code flow: one user agent (cookie jar) per connection; a measured unit is a whole flow"
		echo "  (authorize, login page, login POST with an argon2id password check, token with PKCE), see the steps lines"
	fi
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
# A service that exchanges the tokens presented to it (RFC 8693): its own
# client_credentials tokens serve as subject and actor tokens.
"$gh" clients create --name bench-exchange --grant-type client_credentials \
	--grant-type urn:ietf:params:oauth:grant-type:token-exchange --token-exchange-impersonation \
	--scope api --json >"$work/client-exchange.json"
exchange_id=$("$tool" field client_id <"$work/client-exchange.json")
exchange_secret=$("$tool" field client_secret <"$work/client-exchange.json")
api_key=$("$tool" field key <"$work/apikey.json")
if [[ $authcode == true ]]; then
	# One user, signed in with the right password only: wrong ones would
	# count towards locking the account. The redirect URI is never
	# contacted (loadgen reads the code from the Location header).
	bench_user=bench@example.com
	redirect_uri=http://127.0.0.1:1/callback
	(umask 077 && head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$work/user-password")
	"$gh" users create --email "$bench_user" --password-stdin --email-verified <"$work/user-password" >&2
	# Others for the other sign-in methods: a second factor (a passkey
	# also serves as one) would change the password scenarios' flow.
	passkey_user=bench-passkey@example.com
	[[ $passkey == true ]] && "$gh" users create --email "$passkey_user" --password-stdin --email-verified <"$work/user-password" >/dev/null
	if [[ $totp == true ]]; then
		echo "bench: creating $TOTP_ACCOUNTS accounts for authcode_totp" >&2
		seq 1 "$TOTP_ACCOUNTS" | xargs -P "$(nproc)" -I{} sh -c \
			'"$1" users create --email "bench-totp-$2@example.com" --password-stdin --email-verified <"$3" >/dev/null 2>&1 || { echo "bench: creating account $2 failed" >&2; exit 255; }' \
			sh "$gh" {} "$work/user-password"
	fi
	"$gh" clients create --name bench-web --redirect-uri "$redirect_uri" --skip-consent --json >"$work/client-web.json"
	"$gh" clients create --name bench-third-party --redirect-uri "$redirect_uri" --json >"$work/client-third.json"
	"$gh" clients create --name bench-public --public --redirect-uri "$redirect_uri" --json >"$work/client-public.json"
	public_id=$("$tool" field client_id <"$work/client-public.json")
	web_id=$("$tool" field client_id <"$work/client-web.json")
	web_secret=$("$tool" field client_secret <"$work/client-web.json")
	third_id=$("$tool" field client_id <"$work/client-third.json")
	third_secret=$("$tool" field client_secret <"$work/client-third.json")
fi
# The secrets live only in $work (removed on exit), never in RESULTS or logs.

# ---- server -----------------------------------------------------------------

if [[ $document == true ]]; then
	# The client's own web site: its metadata document over HTTPS on
	# loopback, with a certificate gatehouse is told to trust.
	doc_port=$("$tool" freeport 1)
	"$tool" serve-document -port "$doc_port" -redirect-uri "$redirect_uri" -ca-file "$work/document-ca.pem" \
		>"$work/document-url" 2>"$RESULTS/document.log" &
	document_pid=$!
	for _ in $(seq 1 50); do
		[[ -s "$work/document-url" ]] && break
		sleep 0.1
	done
	document_id=$(head -n 1 "$work/document-url")
	[[ -n "$document_id" ]] || die "the document server did not start (see $RESULTS/document.log)"
	export GATEHOUSE_CLIENT_ID_METADATA_DOCUMENTS_ENABLED=true GATEHOUSE_HTTP_CLIENT_ALLOW_PRIVATE_NETWORKS=true
	export GATEHOUSE_HTTP_CLIENT_CA_FILE="$work/document-ca.pem"
fi

lib_start_server "$RESULTS/server.log"

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
# would decide its figure. The authorization code flow also writes a flow,
# a code (with its PKCE and OIDC rows) and, per sign-in, a login session
# with the clients it signed in to (login_session_clients).
# A DPoP proof is a row too (dpop_proofs, with the database replay cache).
dpop_table=""
[[ $dpop == true && $DPOP_REPLAY == database ]] && dpop_table=dpop_proofs
reset_tokens() {
	if [[ $DB == postgres ]]; then
		psql_bench -c "TRUNCATE oauth2_access, oauth2_refresh, audit_events, auth_flows, oauth2_code, oauth2_pkce, oauth2_oidc, login_session_clients, login_sessions${dpop_table:+, $dpop_table}" \
			-c "VACUUM ANALYZE" >/dev/null
	elif command -v sqlite3 >/dev/null; then
		sqlite3 -cmd ".timeout 10000" "$work/bench.db" "DELETE FROM oauth2_access; DELETE FROM audit_events;
			DELETE FROM auth_flows; DELETE FROM oauth2_code; DELETE FROM oauth2_pkce; DELETE FROM oauth2_oidc; DELETE FROM login_session_clients; DELETE FROM login_sessions;${dpop_table:+ DELETE FROM $dpop_table;}" >/dev/null
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
	cc_dpop | cc_dpop_jwt)
		# The clients of cc_opaque and cc_jwt, each request with a new
		# proof: one signature verified and one proof recorded more.
		# loadgen makes one request first and fails early if the token
		# is not DPoP-bound.
		id=$client_id secret=$client_secret
		[[ $s == cc_dpop_jwt ]] && id=$jwt_id secret=$jwt_secret
		loadgen "$s" -scenarios cc_token -dpop -token-url "$token_url" -client-id "$id" -client-secret "$secret"
		;;
	exchange_delegation | exchange_impersonation)
		# loadgen fetches the subject (and actor) token first; each
		# request then exchanges it: one lookup per token presented and
		# one INSERT.
		actor=false
		[[ $s == exchange_delegation ]] && actor=true
		loadgen "$s" -scenarios exchange -token-url "$token_url" -client-id "$exchange_id" -client-secret "$exchange_secret" \
			-exchange-actor="$actor"
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
	authcode_passkey)
		# loadgen registers a passkey on the account first (signed in once
		# with the password, through the account pages), then every flow
		# signs in with it: no password, no argon2id.
		loadgen "$s" -scenarios authcode -authorize-url "$base/oauth2/authorize" -token-url "$token_url" \
			-redirect-uri "$redirect_uri" -client-id "$web_id" -client-secret "$web_secret" \
			-username "$passkey_user" -password-file "$work/user-password" -authcode-login passkey
		;;
	authcode_totp)
		# loadgen turns an authenticator app on for every account first;
		# every flow then signs in with a password and a current code.
		loadgen "$s" -scenarios authcode -authorize-url "$base/oauth2/authorize" -token-url "$token_url" \
			-redirect-uri "$redirect_uri" -client-id "$web_id" -client-secret "$web_secret" \
			-username "bench-totp-%d@example.com" -authcode-accounts "$TOTP_ACCOUNTS" \
			-password-file "$work/user-password" -authcode-login totp
		;;
	authcode_public | authcode_document)
		# A public client (no secret, PKCE) with the session kept and
		# consent remembered (given in loadgen's first flow): each flow is
		# authorize + token. The document client's copy is cached, so its
		# flows should cost what the registered one's do.
		ac_id=$public_id
		[[ $s == authcode_document ]] && ac_id=$document_id
		loadgen "$s" -scenarios authcode -authorize-url "$base/oauth2/authorize" -token-url "$token_url" \
			-redirect-uri "$redirect_uri" -client-id "$ac_id" -auth none \
			-username "$bench_user" -password-file "$work/user-password" -authcode-fresh-session=false
		;;
	authcode | authcode_consent | authcode_session)
		# Each connection is a browser running whole flows; by default
		# every flow signs in afresh (the realistic sign-in cost,
		# argon2id included). loadgen runs one flow first and fails
		# early if the flow does not work.
		ac_id=$web_id ac_secret=$web_secret fresh=true
		[[ $s == authcode_consent ]] && ac_id=$third_id ac_secret=$third_secret
		[[ $s == authcode_session ]] && fresh=false
		loadgen "$s" -scenarios authcode -authorize-url "$base/oauth2/authorize" -token-url "$token_url" \
			-redirect-uri "$redirect_uri" -client-id "$ac_id" -client-secret "$ac_secret" \
			-username "$bench_user" -password-file "$work/user-password" -authcode-fresh-session="$fresh"
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
