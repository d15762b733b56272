#!/usr/bin/env bash
# The `paper` profile's CIFAR spike figures on one NVIDIA GPU, on a fresh Linux x86_64 machine
# with the NVIDIA driver, a Rust toolchain and python3:
#   scripts/paper-gpu.sh [TARGETS...]     (default: fig3_1def fig3_1ghi)
# Installs LibTorch 2.9.0 with its CUDA 12.8 libraries from PyPI into .venv-torch-cuda (about
# 6 GB, once), builds spike-pipe with --features tch, and runs the targets of the paper profile
# on the GPU (--backend tch, SPIKE_TCH_DEVICE=cuda). CIFAR-10 comes from SPIKE_CIFAR10_DIR or
# the official download (README, "Data"). Extra spike-pipe options go in SPIKE_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."
SPIKE_TORCH_CUDA=1 scripts/setup-libtorch.sh "$PWD/.venv-torch-cuda"
# shellcheck source=/dev/null
source .venv-torch-cuda/env.sh
cargo build --release --locked --features tch
if [ $# -eq 0 ]; then
  set -- fig3_1def fig3_1ghi
fi
# shellcheck disable=SC2086
SPIKE_TCH_DEVICE=cuda exec ./target/release/spike-pipe --profile paper --backend tch ${SPIKE_ARGS:-} repro "$@"
