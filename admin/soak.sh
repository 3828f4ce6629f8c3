#!/usr/bin/env bash
# Soaks a release build: starts one node or a three-node cluster on loopback, drives it with
# `minkms bench --soak` (mixed load, reconnects, quiet periods) for the given time, and writes
# the report (every sample, and each series' trend after the warm-up) as JSON.
#
#   ./admin/soak.sh NODES SECONDS [OUT.json] [extra `minkms bench` flags]
#   ./admin/soak.sh 1 1800 soak-1.json                # BENCHMARKING.md, "Soak"
#   ./admin/soak.sh 3 1800 soak-3.json
#   ./admin/soak.sh 1 150 unscraped.json --no-scrape  # a node nobody scrapes
set -euo pipefail
cd "$(dirname "$0")/.."
nodes="${1:?NODES (1 or 3)}"
seconds="${2:?SECONDS}"
out="${3:-soak-$nodes.json}"
shift $(( $# < 3 ? $# : 3 ))

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/minkms-target}"
cargo build --release --locked -p minkms
bin="$CARGO_TARGET_DIR/release/minkms"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

key="$("$bin" --soft-hsm)"
base=$(( 20000 + RANDOM % 20000 ))
servers=()
for i in $(seq 0 $(( nodes - 1 ))); do
  addr="127.0.0.1:$(( base + i ))"
  MINIO_KMS_HSM_KEY="$key" "$bin" server --addr "$addr" "$work/kms$i" \
    > "$work/kms$i.out" 2> "$work/kms$i.log" &
  pids+=("$!")
  servers+=("$addr")
done
for i in $(seq 0 $(( nodes - 1 ))); do
  for _ in $(seq 100); do
    grep -q "Server is up" "$work/kms$i.out" && break
    sleep 0.2
  done
done
root="$(awk '/^API Key/ { print $3 }' "$work/kms0.out")"
export MINIO_KMS_API_KEY="$root"
for addr in "${servers[@]:1}"; do
  "$bin" add -k -s "${servers[0]}" "$addr"
done
"$bin" add-enclave -k -s "${servers[0]}" bench

pid_args=()
for p in "${pids[@]}"; do pid_args+=(--server-pid "$p"); done
list="$(IFS=,; echo "${servers[*]}")"
"$bin" bench --soak -k --json -s "$list" --duration "$seconds" --warmup 60 --sample 10 \
  --connections 4 --concurrency 8 "${pid_args[@]}" "$@" > "$out"
python3 - "$out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{r['requests']} requests in {r['seconds']:.0f} s ({r['requests']/r['seconds']:.0f}/s), {r['errors']} errors")
for name, t in r["trends"].items():
    scale, unit = (1 / 2**20, "MiB") if name.endswith("resident_bytes") else (1, "")
    print(f"{name:40} start {t['start']*scale:9.1f}{unit} end {t['end']*scale:9.1f}{unit} "
          f"max {t['max']*scale:9.1f}{unit}  {t['per_million_requests']*scale:+8.2f}{unit}/M req  "
          f"{t['per_hour']*scale:+8.2f}{unit}/h")
EOF
