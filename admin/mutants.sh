#!/usr/bin/env bash
# Mutation testing by hand (slow: run it on a quiet machine, never next to the test suite):
# cargo-mutants over the crates whose tests must catch broken code. The replication crate runs
# its simulator with 200 seeds and its model check at depth 4 per mutant (the suite's own
# figures are 2,000 and 5); a mutant that survives that is then checked against the full
# suite by hand. Results go to ~/.cache/minkms-mutants/CRATE/mutants.out (caught.txt,
# missed.txt, timeout.txt, unviable.txt); --iterate re-tests only what the last run missed.
#
#   ./admin/mutants.sh minkms-replication [--iterate] [other cargo-mutants flags]
#   ./admin/mutants.sh minkms-keystore
#   ./admin/mutants.sh minkms-policies
set -euo pipefail
cd "$(dirname "$0")/.."
crate="${1:?which crate: minkms-replication, minkms-keystore or minkms-policies}"
shift
command -v cargo-mutants >/dev/null 2>&1 || cargo install --locked cargo-mutants
export SIM_SEEDS="${SIM_SEEDS:-200}" MODEL_DEPTH="${MODEL_DEPTH:-4}" CARGO_PROFILE_DEV_DEBUG=0
export CARGO_TARGET_DIR="${MINKMS_MUTANTS_TARGET_DIR:-$HOME/.cache/mutants-target}"
exec cargo mutants -p "$crate" -o "$HOME/.cache/minkms-mutants/${crate#minkms-}" --timeout 45 "$@"
