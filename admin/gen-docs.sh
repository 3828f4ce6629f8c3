#!/usr/bin/env bash
# Regenerates the shell completions (packaging/completions/) and man pages (packaging/man/)
# from the CLI's definition. A test (server/tests/restart.rs) fails when they are stale.
#
#   ./admin/gen-docs.sh [path/to/minkms]
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-}"
if [ -z "$bin" ]; then
  cargo build --locked -p minkms
  bin="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/minkms"
fi
mkdir -p packaging/completions
"$bin" completion bash > packaging/completions/minkms.bash
"$bin" completion zsh > packaging/completions/_minkms
"$bin" completion fish > packaging/completions/minkms.fish
rm -rf packaging/man
"$bin" man --dir packaging/man
echo "gen-docs: packaging/completions and packaging/man are current"
