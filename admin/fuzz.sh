#!/usr/bin/env bash
# Runs every cargo-fuzz target for a while (default 20 s each; MINKMS_FUZZ_SECONDS=600 for the
# long runs by hand). Needs the nightly toolchain and cargo-fuzz (installed when missing).
#
#   ./admin/fuzz.sh [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${MINKMS_FUZZ_SECONDS:-20}"
# Outside the clone, so that CI's later runs on the same machine rebuild incrementally.
target_dir="${MINKMS_FUZZ_TARGET_DIR:-$HOME/.cache/minkms-fuzz-target}"
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "NOT RUN: the fuzz smoke run: no nightly toolchain on this machine (cargo fuzz needs it)"
  [ -z "${MINKMS_NOT_RUN:-}" ] || echo "the fuzz smoke run: no nightly toolchain (cargo fuzz needs it)" >>"$MINKMS_NOT_RUN"
  exit 0
fi
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)
for t in "${targets[@]}"; do
  echo "fuzz: $t for ${seconds}s"
  mkdir -p "corpus/$t"
  log="$(mktemp)"
  # cargo fuzz exits non-zero on a crash, a leak or a timeout: that fails the run.
  if ! cargo +nightly fuzz run --target-dir "$target_dir" "$t" "corpus/$t" -- -max_total_time="$seconds" -rss_limit_mb=2048 >"$log" 2>&1; then
    tail -40 "$log"
    rm -f "$log"
    exit 1
  fi
  grep -E "^Done" "$log" || true
  rm -f "$log"
done
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, no crash"
