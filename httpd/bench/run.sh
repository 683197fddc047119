#!/bin/sh
# Benchmark httpd with wrk (Debian package `wrk`): a small static file and AutoDiscover POX
# (Basic auth, credential cache) over 100 keep-alive connections.
#
#   httpd/bench/run.sh [DURATION_SECONDS]      (default 10)
#
# Builds httpd in release mode (set HTTPD_BIN to use a binary you built), starts it on a free
# loopback port with a temporary configuration, runs wrk twice and prints requests/s and the
# latency distribution. Environment: THREADS (httpd workers, default 4), WRK_THREADS (default 2),
# CONNS (default 100), PORT (default 18080).
set -eu

DUR=${1:-10}
THREADS=${THREADS:-4}
WRK_THREADS=${WRK_THREADS:-2}
CONNS=${CONNS:-100}
PORT=${PORT:-18080}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
if [ -z "${HTTPD_BIN:-}" ]; then
    (cd "$ROOT" && cargo build --release -q -p httpd)
    HTTPD_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/httpd"
fi

TMP=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM

mkdir -p "$TMP/etc" "$TMP/www"
printf 'Hello, world! This is a small static file for the benchmark.\n' > "$TMP/www/small.txt"
SALT=benchsalt
HASH=$(printf '%s%s' "$SALT" "benchpass" | sha256sum | cut -d' ' -f1)
printf 'bench@example.org\tsha256$%s$%s\tBench User\n' "$SALT" "$HASH" > "$TMP/etc/users.txt"
printf '* /web %s\n' "$TMP/www" > "$TMP/etc/cache.txt"
cat > "$TMP/etc/gromox.cfg" <<EOF
config_file_path = $TMP/etc
http_listen = 127.0.0.1:$PORT
http_threads_num = $THREADS
context_num = 2000
httpd_log_level = warn
http_users_file = $TMP/etc/users.txt
http_external_host = mail.example.org
EOF
cat > "$TMP/ad.xml" <<'EOF'
<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>bench@example.org</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>
EOF
# bench@example.org:benchpass
AUTH="Basic YmVuY2hAZXhhbXBsZS5vcmc6YmVuY2hwYXNz"
cat > "$TMP/ad.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/xml; charset=utf-8"
wrk.headers["Authorization"] = "$AUTH"
wrk.headers["X-MapiHttpCapability"] = "1"
local f = io.open("$TMP/ad.xml", "rb")
wrk.body = f:read("*a")
f:close()
EOF

GROMOX_READY_FILE="$TMP/ready" "$HTTPD_BIN" -c "$TMP/etc/gromox.cfg" 2>"$TMP/httpd.log" &
PID=$!
i=0
while [ ! -f "$TMP/ready" ]; do
    i=$((i + 1)); [ $i -gt 200 ] && { echo "httpd did not start:" >&2; cat "$TMP/httpd.log" >&2; exit 1; }
    sleep 0.05
done
URL="http://127.0.0.1:$PORT"
# Sanity checks: both URLs answer what they should (wrk only counts status codes).
curl -fsS "$URL/web/small.txt" | grep -q 'small static file' || { echo "static sanity check failed" >&2; exit 1; }
curl -fsS -H "Authorization: $AUTH" -H 'Content-Type: text/xml' --data-binary @"$TMP/ad.xml" \
    "$URL/autodiscover/autodiscover.xml" | grep -q '<DisplayName>Bench User</DisplayName>' \
    || { echo "AutoDiscover sanity check failed" >&2; exit 1; }

echo "== static file ($URL/web/small.txt), $CONNS connections, ${DUR}s, httpd threads $THREADS"
wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DUR}s" --latency "$URL/web/small.txt" | grep -E 'Requests/sec|Latency|^ +(50|90|99)%|Non-2xx|Socket errors'
echo
echo "== AutoDiscover POX ($URL/autodiscover/autodiscover.xml), $CONNS connections, ${DUR}s"
wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DUR}s" --latency -s "$TMP/ad.lua" "$URL/autodiscover/autodiscover.xml" | grep -E 'Requests/sec|Latency|^ +(50|90|99)%|Non-2xx|Socket errors'
