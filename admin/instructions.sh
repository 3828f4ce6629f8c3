#!/usr/bin/env bash
# User-space instructions per unbatched KEY:GENERATE of a `minkms server --dev`, counted by
# valgrind's callgrind (`apt-get install -y valgrind`). Wall-clock figures on a shared 2-core
# machine move by 20 % from one minute to the next; an instruction count moves by about 1 %,
# so it shows a change of a few percent that a timed run cannot (BENCHMARKING.md, "Counting
# instructions"). It counts no kernel work and no cache misses: a change that moves the count
# is then confirmed with admin/compare.sh.
#
# The server runs twice under callgrind, pinned to one core (so on the current-thread runtime
# a one-core node uses), loaded by `minkms bench` for a short and a long run; the difference
# of the two totals over the difference of their request counts (read from the node's
# metrics) is the cost of one request, start-up and shutdown cancelled out. Callgrind runs
# the server about 50 times slower and emulates no SHA extensions, so the sub-key's SHA-256
# counts several times what it costs natively.
#
#   ./admin/instructions.sh [BINARY] [1|2]
#   ./admin/instructions.sh /tmp/minkms.before 1; ./admin/instructions.sh target/release/minkms 1
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/minkms}"
http="${2:-1}"
port="${PORT:-7375}"
for tool in valgrind curl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "instructions: $tool missing: apt-get install -y valgrind curl" >&2; exit 1; }
done
if [ "$http" = 1 ]; then conns=(--connections 4 --concurrency 1); else conns=(--connections 2 --concurrency 8); fi
work="$(mktemp -d)"
trap 'kill "${server:-}" 2>/dev/null || true; rm -rf "$work"' EXIT

run() { # seconds -> "requests instructions"
  taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
    "$bin" server --dev --addr "127.0.0.1:$port" >"$work/out" 2>"$work/log" &
  server=$!
  for _ in $(seq 600); do grep -q 'Server is up' "$work/out" 2>/dev/null && break; sleep 0.1; done
  local key
  key="$(awk '/^API Key/ {print $3}' "$work/out")"
  "$bin" bench -k -s "127.0.0.1:$port" -a "$key" --op generate --http "$http" "${conns[@]}" \
    --duration "$1" --warmup 1 >/dev/null
  local requests
  requests="$(curl -sk "https://127.0.0.1:$port/v1/health/metrics" |
    awk '/^minkms_http_requests_total/ && /KEY:GENERATE/ {s += $2} END {print s}')"
  kill -INT "$server"; wait "$server" || true
  echo "$requests $(awk '/^(summary|totals):/ {print $2; exit}' "$work/cg.out")"
}
short="$(run 3)"
long="$(run 9)"
python3 - "$bin" "$http" "$short" "$long" <<'EOF'
import json, sys
(n1, i1), (n2, i2) = (map(int, s.split()) for s in sys.argv[3:5])
print(json.dumps({"binary": sys.argv[1], "http": int(sys.argv[2]), "requests": [n1, n2],
                  "instructions_per_request": round((i2 - i1) / (n2 - n1))}))
EOF
