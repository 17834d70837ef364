#!/usr/bin/env bash
# The CPU path's kernels are compiled in four versions (AVX-512, AVX2 + FMA, NEON, portable; see
# src/cpu/kernel_version.rs) and a machine runs one of them, so the golden tests check only that one. This checks
# the others on an x86-64 Linux machine:
#   - portable (no fused multiply-adds): the golden test built for 32-bit x86 (i686), run natively;
#   - NEON: the golden test built for AArch64, run under qemu-aarch64;
#   - AVX2 + FMA: `mtcnn detect --raw` run under qemu-x86_64 as a Haswell (AVX2, no AVX-512) must print the same
#     bits as run natively (the versions with fused multiply-adds sum every output in the same order), on six
#     images (the emulation is slow: a minute for the 640×480 one).
# Each golden run prints which kernels it checked, and the script fails unless they are the expected ones.
# Installs what is missing (apt: qemu-user, 32-bit x86 libraries, the AArch64 cross compiler; rustup: the two
# targets).
# Needs ../shared/data. About 13 minutes on two cores: the two builds, and NEON's golden run under emulation.
set -euo pipefail
cd "$(dirname "$0")/.."
export MTCNN_REQUIRE_DATA=1

need=()
command -v qemu-aarch64 >/dev/null 2>&1 || need+=(qemu-user)
# gcc -m32's libraries, for linking i686 (not gcc-multilib, which Debian makes conflict with the cross compiler).
if ! echo 'int main(void) { return 0; }' | gcc -m32 -x c - -o /dev/null >/dev/null 2>&1; then
  need+=("lib32gcc-$(gcc -dumpversion | cut -d. -f1)-dev" libc6-dev-i386)
fi
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
rustup target add i686-unknown-linux-gnu aarch64-unknown-linux-gnu

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# The golden test built for target $1 (without the GPU and the CLI, which it does not need) must pass and say
# that it checked the $2 kernels.
golden() {
  local target=$1 kernels=$2
  echo "== $kernels kernels: the golden test on $target"
  if ! cargo test --release --locked --no-default-features --target "$target" --test golden -- --show-output \
    >"$log" 2>&1; then
    cat "$log"
    echo "FAILED: the golden test on $target"
    return 1
  fi
  grep '^golden (' "$log"
  if ! grep -q "^golden ($kernels kernels)" "$log"; then
    echo "FAILED: expected the $kernels kernels on $target"
    return 1
  fi
}

golden i686-unknown-linux-gnu portable
golden aarch64-unknown-linux-gnu neon

echo "== AVX2 + FMA kernels: mtcnn detect --raw under qemu-x86_64 -cpu Haswell, against this machine's"
cargo build --release --locked --bin mtcnn >"$log" 2>&1 || { cat "$log"; exit 1; }
mtcnn=target/release/mtcnn
data=../shared/data/images
"$mtcnn" -v detect assets/astronaut.png --device cpu 2>&1 >/dev/null | grep -o 'device: cpu.*'
for case in "$data/tom_hanks.png 20" "$data/no_faces.png 20" "$data/test1.png 30" "$data/messi5.png 40" \
  "assets/astronaut.png 40" "$data/bench_640x480.png 20"; do
  set -- $case
  args=(detect "$1" --raw --device cpu --threads 2 --min-face "$2")
  native=$("$mtcnn" "${args[@]}")
  emulated=$(qemu-x86_64 -cpu Haswell "$mtcnn" -v "${args[@]}" 2>"$log")
  if ! grep -q 'AVX2 + FMA kernels' "$log"; then
    cat "$log"
    echo "FAILED: the emulated Haswell did not run the AVX2 + FMA kernels"
    exit 1
  fi
  if [ "$native" != "$emulated" ]; then
    printf 'natively:\n%s\nAVX2 + FMA:\n%s\n' "$native" "$emulated"
    echo "FAILED: $1 (min face $2): the AVX2 + FMA kernels give other bits"
    exit 1
  fi
  echo "$(basename "$1") (min face $2): the same bits, $(grep -o '"confidence"' <<<"$native" | wc -l) faces"
done
echo "the CPU kernels' other versions: checked"
