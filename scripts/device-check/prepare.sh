#!/usr/bin/env bash
# Prepares, on the development machine, what scripts/device-check/run.sh needs on a lent GPU machine (the
# `device` tool; see README, "Measuring on a lent GPU"). That machine has no Rust toolchain and no network, so this
# builds everything here: stripped, compressed release builds of the CLI and of the GPU integration tests, a copy of
# the shared test data, and the Vulkan loader's package. Writes .device-check/ (ignored by git, about 35 MB, under
# the tool's 64 MiB limit together with the repository).
#
#   scripts/device-check/prepare.sh          # then: device run, carry [".device-check"], command
#                                            #   "bash scripts/device-check/run.sh", timeout_s 480
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=.device-check
data="${MTCNN_SHARED_DATA:-../shared/data}"
[ -d "$data/images" ] || { echo "no shared data at $data (set MTCNN_SHARED_DATA)" >&2; exit 1; }
rm -rf "$dest"
mkdir -p "$dest/bin" "$dest/shared" "$dest/deb"

# The CLI, for the benchmarks.
cargo build --release --locked --features cli --bin mtcnn
cp target/release/mtcnn "$dest/bin/mtcnn"

# The tests that run the GPU path: the library's (each kernel against the CPU's, the networks against
# ../shared/data/nets, and a per-layer profile), golden detection, and batches. Cargo names each test binary with
# a hash; its JSON messages say which file is which.
cargo test --release --locked --lib --test gpu --test batch --no-run --message-format=json |
  python3 -c '
import json, shutil, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message.get("executable") and message["profile"]["test"]:
        shutil.copy(message["executable"], sys.argv[1] + "/" + message["target"]["name"])
' "$dest/bin"
for tool in mtcnn mtcnn_wgpu gpu batch; do
  [ -f "$dest/bin/$tool" ] || { echo "missing $dest/bin/$tool" >&2; exit 1; }
  strip "$dest/bin/$tool"
  gzip -9 "$dest/bin/$tool"
done
# The test binaries read assets/ from the folder they were built in (CARGO_MANIFEST_DIR, fixed at build time):
# run.sh links that path to the repository there.
pwd > "$dest/built_in"

cp -r "$data" "$dest/shared/data"

# Vulkan's loader (libvulkan1), which the lent machine's image may lack; NVIDIA's driver brings its own ICD.
apt_options=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/device-check-apt)
mkdir -p /tmp/device-check-apt/partial
apt-get "${apt_options[@]}" update -qq
(cd "$dest/deb" && apt-get "${apt_options[@]}" download libvulkan1 2>/dev/null)
ls "$dest"/deb/libvulkan1_*.deb >/dev/null

du -sh "$dest"
