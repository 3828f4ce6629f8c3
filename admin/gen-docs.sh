#!/usr/bin/env bash
# Regenerates the shell completions (packaging/completions/) and man pages (packaging/man/)
# and the command-line reference (docs/cli.md) from the CLI's definition, and the
# configuration reference (docs/config.md) from the config file's parser. A test (server/tests/restart.rs) fails when any of them is stale.
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
"$bin" man packaging/man
"$bin" config-reference > docs/config.md
"$bin" cli-reference > docs/cli.md
echo "gen-docs: packaging/completions, packaging/man, docs/config.md and docs/cli.md are current"
