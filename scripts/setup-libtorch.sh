#!/usr/bin/env bash
# Installs LibTorch 2.9.0 (what burn-tch 0.22 / tch 0.22 expect) from PyPI into a virtual
# environment, for `--features tch`, and writes the environment the build and the binary need
# into $VENV/env.sh. torch-sys's own build script would download LibTorch from
# download.pytorch.org, which offline machines cannot reach; PyPI works.
# About 3 GB and a few minutes. Usage: scripts/setup-libtorch.sh [VENV]  (default .venv-torch)
# With SPIKE_TORCH_CUDA=1 it also installs the CUDA 12.8 libraries the wheel's GPU path loads
# (cuBLAS, cuDNN, ...; about 3 GB more), for SPIKE_TCH_DEVICE=cuda.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-${SPIKE_TORCH_VENV:-$PWD/.venv-torch}}"
if [ ! -f "$VENV/env.sh" ]; then
  python3 -m venv "$VENV"
  if [ "${SPIKE_TORCH_CUDA:-0}" = 1 ]; then
    "$VENV/bin/pip" install --quiet torch==2.9.0
  else
    "$VENV/bin/pip" install --quiet --no-deps \
      torch==2.9.0 nvidia-cuda-runtime-cu12==12.8.90 nvidia-cuda-cupti-cu12==12.8.90
  fi
  SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  TORCH="$SITE/torch"
  # torch-sys links these three; a lib/ with only them keeps it from picking up the CUDA ones.
  mkdir -p "$VENV/libtorch-link/lib"
  for l in libc10.so libtorch_cpu.so libtorch.so; do
    ln -sf "$TORCH/lib/$l" "$VENV/libtorch-link/lib/$l"
  done
  # Every NVIDIA library the wheel brought (two without CUDA, all of them with it).
  NVLIBS="$(find "$SITE/nvidia" -mindepth 2 -maxdepth 2 -type d -name lib | sort | paste -sd: -)"
  cat > "$VENV/env.sh" <<ENV
export LIBTORCH="$TORCH"
export LIBTORCH_INCLUDE="$TORCH"
export LIBTORCH_LIB="$VENV/libtorch-link"
export LD_LIBRARY_PATH="$TORCH/lib:$NVLIBS\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
ENV
fi
echo "LibTorch ready: source $VENV/env.sh, then cargo build --release --features tch"
