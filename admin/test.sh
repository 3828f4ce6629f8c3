#!/usr/bin/env bash
# Runs the whole test suite the way CI does: installs what the tests need, checks formatting
# and lints, then runs every test of the workspace.
#
#   ./admin/test.sh
#
# Builds go to $CARGO_TARGET_DIR (default: ~/.cache/minkms-target, outside the clone) so that
# repeated runs, and CI runs on the same machine, rebuild incrementally.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/minkms-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Tests print their own failures; a backtrace per expected error would drown them.
unset RUST_BACKTRACE

step() { printf '\n==> %s\n' "$*"; }

# SoftHSM2: the PKCS#11 tests run against a real token. Under CI=true a missing module fails
# those tests instead of skipping them. nftables: the cluster fault tests partition nodes with
# nft rules inside a network namespace they create (server/tests/chaos.rs). curl: the metrics
# tests scrape a node as an operator would (server/tests/metrics.rs). systemd: its offline
# unit checker (`systemd-analyze verify`, server/tests/packaging.rs); nothing is started.
missing=()
[ -e /usr/lib/softhsm/libsofthsm2.so ] || missing+=(softhsm2)
command -v nft >/dev/null || missing+=(nftables)
command -v curl >/dev/null || missing+=(curl)
command -v systemd-analyze >/dev/null || missing+=(systemd)
if [ ${#missing[@]} -gt 0 ]; then
  step "installing ${missing[*]} (PKCS#11, partition, metrics and packaging tests)"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
export TEST_PKCS11_MODULE="${TEST_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}"

# Whatever could not run on this machine is recorded here and listed at the end; under CI=true
# (CI sets it) a test that cannot run fails instead.
export MINKMS_NOT_RUN="$(mktemp)"

step "toolchain"
cargo --version
rustc --version

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "fuzz smoke run (every cargo-fuzz target, 20 s each; needs the nightly toolchain)"
MINKMS_FUZZ_SECONDS="${MINKMS_FUZZ_SECONDS:-20}" ./admin/fuzz.sh

step "cargo test (every crate, unit and integration tests with real minkms processes)"
log="$(mktemp)"
trap 'rm -f "$log" "$MINKMS_NOT_RUN"' EXIT
set +e
cargo test --workspace --all-targets --locked --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "\nminkms: %d passed, %d failed\n", p, f }' "$log"
if [ -s "$MINKMS_NOT_RUN" ]; then
  echo "minkms: NOT RUN on this machine ($(sort -u "$MINKMS_NOT_RUN" | wc -l)):"
  sort -u "$MINKMS_NOT_RUN" | sed 's/^/  /'
else
  echo "minkms: every test ran"
fi
exit "$status"
