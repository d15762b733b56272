#!/usr/bin/env bash
# Builds the `cuda` feature without network and checks how it behaves on this machine.
#
# burn-cuda's compiler (cubecl-llvm) links LLVM 23, which its build script downloads from
# GitHub. Offline, Debian's LLVM 22 stands in for that bundle: it is enough to compile and link
# all of spike-pipe's `cuda` code, not to generate GPU kernels. On a machine with network a plain
# `cargo build --release --features cuda` needs none of this.
#
# Without an NVIDIA driver the binary must refuse the backend with a clear error; with one it
# runs Fig 3.2 (the toy model, f64) on the GPU and on the CPU and diffs the two.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(llvm-22-dev libpolly-22-dev)
if ! dpkg -s "${packages[@]}" >/dev/null 2>&1; then
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null; }; then
    echo "SKIPPED: LLVM 22 could not be installed from Debian; the cuda feature was not built" >&2
    exit 0
  fi
fi

stand_in=$PWD/target/cuda-llvm
bundle=$stand_in/tracel/tracel-llvm-23.1.0-4
mkdir -p "$bundle" "$stand_in/extra-libs"
for d in bin include lib share; do ln -sfn "/usr/lib/llvm-22/$d" "$bundle/$d"; done
touch "$bundle/.tracel-llvm-installed"
# The bundler turns Debian's `llvm-config --system-libs` entry /usr/lib/.../libz3.so into
# `-llibz3`; give the linker that name.
ln -sfn "$(find /usr/lib -name 'libz3.so' -print -quit)" "$stand_in/extra-libs/liblibz3.so"

export XDG_DATA_HOME=$stand_in
export RUSTFLAGS="-L native=$stand_in/extra-libs"
export CARGO_TARGET_DIR=$PWD/target/cuda
# No debug info: it only slows the link and fills the disk here.
export CARGO_PROFILE_DEV_DEBUG=0
cargo build --locked --features cuda --bin spike-pipe
bin=$CARGO_TARGET_DIR/debug/spike-pipe

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp pipeline.yaml "$work/"
cd "$work"
if [ -e /dev/nvidia0 ]; then
  "$bin" --backend cuda --outputs cuda-out repro figure.fig3_2
  "$bin" --backend flex --outputs flex-out repro figure.fig3_2
  "$bin" diff flex-out cuda-out --rtol 1e-6 --atol 1e-12
  "$bin" --backend cuda bench --no-cnn
else
  if "$bin" --backend cuda repro train.toy >"$work/log" 2>&1; then
    echo "FAILED: --backend cuda succeeded on a machine without an NVIDIA device" >&2
    exit 1
  fi
  grep -q "backend cuda: cannot load the NVIDIA driver" "$work/log" || {
    cat "$work/log" >&2
    echo "FAILED: no clear error for the missing NVIDIA driver" >&2
    exit 1
  }
  echo "cuda: built and linked; without an NVIDIA device the backend is refused with a clear error"
fi
