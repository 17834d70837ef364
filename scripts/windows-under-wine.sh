#!/usr/bin/env bash
# The Windows build, tested on this x86-64 Linux machine: the whole test suite built for x86_64-pc-windows-gnu
# (MinGW) and run under Wine, the GPU tests included. Wine passes Vulkan through to the host's driver (winevulkan),
# so they run on lavapipe as on Linux; Wine's Vulkan needs its X11 driver, hence a virtual X server (Xvfb). Wine's
# DX12 cannot run wgpu's shaders (its D3DCompile is not implemented), so WGPU_BACKEND=vulkan; `Device::Auto`
# falls back to the CPU there, as it should. What this checks that the Linux runs do not: that the library, the
# CLI and the tests build and behave on Windows (paths, files, threads, the standard library's Windows side).
# Installs what is missing (apt: wine64, the MinGW cross compiler, Xvfb; rustup: the target). Wine before 9.0 lacks
# bcryptprimitives.dll, which Rust's standard library imports; a stand-in is built from scripts/wine/ then.
# Needs ../shared/data, and lavapipe (.ci/run installs it). About 12 minutes on two cores, most of it the build.
# Run by hand, not by .ci/run: in one run of five a doctest's process was killed under Wine (README, Test it).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian puts wine64 outside PATH.
wine_path() { command -v wine64 || echo /usr/lib/wine/wine64; }
need=()
[ -x "$(wine_path)" ] || need+=(wine64)
command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || need+=(gcc-mingw-w64-x86-64)
command -v Xvfb >/dev/null 2>&1 || need+=(xvfb)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
wine=$(wine_path)
wineserver=$(command -v wineserver || echo "$(dirname "$wine")/wineserver")
rustup target add x86_64-pc-windows-gnu

# A Wine prefix of our own, and a display for Wine's X11 driver; both go away at the end.
export WINEPREFIX WINEDEBUG=-all DISPLAY
WINEPREFIX=$(mktemp -d)
log=$(mktemp)
display=90
while [ -e "/tmp/.X$display-lock" ]; do display=$((display + 1)); done
DISPLAY=":$display"
Xvfb "$DISPLAY" -screen 0 640x480x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
cleanup() {
  "$wineserver" -k >/dev/null 2>&1 || true
  kill "$xvfb" 2>/dev/null || true
  rm -rf "$WINEPREFIX" "$log"
}
trap cleanup EXIT

"$wine" wineboot --init >/dev/null 2>&1
system32="$WINEPREFIX/drive_c/windows/system32"
if [ ! -e "$system32/bcryptprimitives.dll" ]; then
  echo "== this Wine has no bcryptprimitives.dll: building the stand-in (scripts/wine/bcryptprimitives.c)"
  x86_64-w64-mingw32-gcc -shared -O2 -o "$system32/bcryptprimitives.dll" scripts/wine/bcryptprimitives.c -ladvapi32
fi

export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="$wine"
export MTCNN_REQUIRE_DATA=1 MTCNN_REQUIRE_GPU=1 WGPU_BACKEND=vulkan XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
echo "== the test suite built for x86_64-pc-windows-gnu, under $("$wine" --version)"
if ! cargo test --release --locked --target x86_64-pc-windows-gnu -- --show-output >"$log" 2>&1; then
  cat "$log"
  echo "FAILED: the test suite on Windows (under Wine)"
  exit 1
fi
grep -E '^test result:' "$log" | awk '{p += $4; f += $6; i += $8} END {print p " passed, " f " failed, " i " ignored"}'
grep -E '^(golden \(|gpu golden \()' "$log"
if ! grep -q '^gpu golden (llvmpipe' "$log"; then
  echo "FAILED: the GPU golden test did not run on lavapipe under Wine"
  exit 1
fi
echo "the Windows build: checked"
