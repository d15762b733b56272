#!/usr/bin/env bash
# The LibTorch backend's tests (--features tch), a separate CI step so the default build never
# needs LibTorch. Installs LibTorch from PyPI first (scripts/setup-libtorch.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! ./scripts/setup-libtorch.sh; then
  echo "SKIPPED: LibTorch could not be installed from PyPI (no network?); the tch backend was not tested" >&2
  exit 0
fi
source .venv-torch/env.sh
cargo test --release --locked --features tch --test it backends::
