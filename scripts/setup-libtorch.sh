#!/usr/bin/env bash
# Installs LibTorch 2.9.0 (what burn-tch 0.22 / tch 0.22 expect) from PyPI into a virtual
# environment, for `--features tch`, and writes the environment the build and the binary need
# into $VENV/env.sh. torch-sys's own build script would download LibTorch from
# download.pytorch.org, which offline machines cannot reach; PyPI works.
# About 3 GB and a few minutes. Usage: scripts/setup-libtorch.sh [VENV]  (default .venv-torch)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-${SPIKE_TORCH_VENV:-$PWD/.venv-torch}}"
if [ ! -f "$VENV/env.sh" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --no-deps \
    torch==2.9.0 nvidia-cuda-runtime-cu12==12.8.90 nvidia-cuda-cupti-cu12==12.8.90
  SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  TORCH="$SITE/torch"
  # torch-sys links these three; a lib/ with only them keeps it from picking up the CUDA ones.
  mkdir -p "$VENV/libtorch-link/lib"
  for l in libc10.so libtorch_cpu.so libtorch.so; do
    ln -sf "$TORCH/lib/$l" "$VENV/libtorch-link/lib/$l"
  done
  NV="$SITE/nvidia"
  cat > "$VENV/env.sh" <<ENV
export LIBTORCH="$TORCH"
export LIBTORCH_INCLUDE="$TORCH"
export LIBTORCH_LIB="$VENV/libtorch-link"
export LD_LIBRARY_PATH="$TORCH/lib:$NV/cuda_runtime/lib:$NV/cuda_cupti/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
ENV
fi
echo "LibTorch ready: source $VENV/env.sh, then cargo build --release --features tch"
