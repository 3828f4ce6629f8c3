#!/usr/bin/env bash
# Loads a server with the leanest clients available, for BENCHMARKING.md's yardstick: `wrk`
# (HTTP/1.1) or `h2load` (HTTP/2), both from Debian (`apt-get install wrk nghttp2-client`),
# sending one framed KEY:GENERATE of a 32-byte data key per request to POST /v1/kms/ENCLAVE.
# They present no client certificate, so the target must answer without one: `minkms
# bench-baseline` does (a node refuses, 403). Prints one JSON line like `minkms bench --json`:
# requests per second and the server's CPU per request, read from /proc/PID/stat around the
# load (the load generator pinned to LOAD_CORE, default 1).
#
#   ./admin/lean-load.sh PID HOST:PORT 1|2 [SECONDS] [ENCLAVE]
set -euo pipefail
pid=$1 addr=$2 http=$3 seconds="${4:-10}" enclave="${5:-bench}"
load_core="${LOAD_CORE:-1}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# One frame: id 207 (KEY:GENERATE), u32 length, GenerateKeyRequest{name, associated_data "{}", length 32}.
python3 - "$work" <<'PY'
import struct, sys
name = b"bench-key"
payload = b"\x0a" + bytes([len(name)]) + name + b"\x1a\x02{}" + b"\x20\x20"
body = struct.pack(">HI", 207, len(payload)) + payload
open(sys.argv[1] + "/body.bin", "wb").write(body)
lua = "".join("\\%d" % b for b in body)
open(sys.argv[1] + "/body.lua", "w").write(
    'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/octet-stream"\n'
    f'wrk.body = "{lua}"\n')
PY
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
ticks="$(getconf CLK_TCK)"
before="$(cpu)"
if [ "$http" = 1 ]; then
  taskset -c "$load_core" wrk -t1 -c16 -d"${seconds}s" -s "$work/body.lua" "https://$addr/v1/kms/$enclave" >"$work/out"
  requests="$(awk '/requests in/ {print $1}' "$work/out")"
  errors="$(awk '/Non-2xx/ {print $NF}' "$work/out")"
else
  taskset -c "$load_core" h2load -D "$seconds" -c4 -m32 -d "$work/body.bin" \
    -H 'content-type: application/octet-stream' "https://$addr/v1/kms/$enclave" >"$work/out"
  requests="$(awk '/^requests:/ {print $8}' "$work/out")"
  errors="$(awk '/^status codes:/ {print $5+$7+$9}' "$work/out" | tr -d ',')"
fi
after="$(cpu)"
python3 -c 'import json,sys
req, cpu_ticks, ticks, secs, http, err = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
print(json.dumps({"http": http, "requests": req, "ops_per_s": req / secs,
  "server_cpu_us_per_op": cpu_ticks / ticks * 1e6 / max(req, 1), "errors": int(err or 0),
  "client": "wrk" if http == 1 else "h2load"}))' \
  "$requests" "$((after - before))" "$ticks" "$seconds" "$http" "${errors:-0}"
