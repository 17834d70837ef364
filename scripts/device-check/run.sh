#!/usr/bin/env bash
# Runs on a lent GPU machine (the `device` tool), from the repository root, with .device-check/ carried over from
# scripts/device-check/prepare.sh: prints the adapter, times detection on the GPU and on the host's CPU (each
# stage as JSON, one frame and batches of 16), runs the GPU tests (kernels, networks, every golden image, batches) and
# prints each layer's time. Every step has a time limit and the whole run a budget (DEVICE_CHECK_SECONDS, 420 by
# default), so a hung driver cannot use up the lent time; a failing step does not stop the others. Writes log.txt
# and the benchmarks' JSON to $OUT (the tool's folder of results), or to ./device-check-out.
#
# On this machine with lavapipe, for a dry run: WGPU_BACKEND=vulkan bash scripts/device-check/run.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
prepared="$PWD/.device-check"
out="${OUT:-$PWD/device-check-out}"
mkdir -p "$out"
exec > >(tee "$out/log.txt") 2>&1
failed=0
# The whole run's budget in seconds: a step never runs past it (a hung driver cannot eat the device time).
deadline=$((SECONDS + ${DEVICE_CHECK_SECONDS:-420}))
# step LIMIT_SECONDS NAME COMMAND...: runs one step under a time limit (cut to what is left of the budget), noting
# a failure and going on; returns the step's status.
step() {
  local limit=$1 name=$2 status=0
  shift 2
  echo
  echo "== $name ($(date -u +%T))"
  if ((deadline - SECONDS < 5)); then
    echo "!! $name skipped: the run's time budget is spent"
    failed=1
    return 1
  fi
  timeout $((limit < deadline - SECONDS ? limit : deadline - SECONDS)) "$@" || status=$?
  if ((status != 0)); then
    echo "!! $name failed (exit $status)"
    failed=1
  fi
  return $status
}

[ -d "$prepared/bin" ] || { echo "no $prepared: run scripts/device-check/prepare.sh first and carry .device-check"; exit 1; }
# Unpacked outside the carried folder, which stays small enough to carry again.
bin=$(mktemp -d)
for tool in "$prepared"/bin/*.gz; do
  gunzip -c "$tool" > "$bin/$(basename "$tool" .gz)"
done
chmod +x "$bin"/*

# Vulkan: the loader from the carried package when the image lacks one, and NVIDIA's ICD from the mounted driver.
if ! ldconfig -p | grep -q 'libvulkan\.so\.1'; then
  for package in "$prepared"/deb/*.deb; do dpkg -x "$package" /; done
  ldconfig
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES="$icd"
export WGPU_BACKEND="${WGPU_BACKEND:-vulkan}" MTCNN_REQUIRE_GPU=1 MTCNN_REQUIRE_DATA=1 CI=1
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
# Every golden image, as in CI.
export MTCNN_GPU_ALL_IMAGES="${MTCNN_GPU_ALL_IMAGES:-1}"
export MTCNN_SHARED_DATA="$prepared/shared/data"
# The test binaries look for assets/ under the folder they were built in.
built_in=$(cat "$prepared/built_in")
if [ "$built_in" != "$PWD" ] && [ ! -e "$built_in" ]; then
  mkdir -p "$(dirname "$built_in")" && ln -s "$PWD" "$built_in"
fi
images="$MTCNN_SHARED_DATA/images"

# stage_bench DEVICE SIZE RUNS: the time of each stage, one run of `mtcnn bench`, its JSON into the log and $OUT.
stage_bench() {
  step 60 "$1 $2, stages" bash -o pipefail -c '"$0" bench "$1" --device "$2" --stages --runs "$3" --json | tee "$4"' \
    "$bin/mtcnn" "$images/bench_$2.png" "$1" "$3" "$out/$1_$2.json"
}

step 30 machine bash -c 'nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv; nproc; uname -r'
for size in 640x480 1920x1080; do
  stage_bench cpu "$size" 20
done
# Without an adapter the GPU steps would only repeat the same error.
if step 60 adapter "$bin/mtcnn" -v bench "$images/bench_640x480.png" --device gpu --runs 3; then
  for size in 640x480 1920x1080; do
    stage_bench gpu "$size" 50
    step 90 "gpu $size, batches of 16" "$bin/mtcnn" bench "$images/bench_$size.png" --device gpu --batch 16 --runs 20
  done
  # Each kernel against the CPU's and the networks within 1e-4, the golden images (all 18 on a real GPU), batches.
  step 180 "library: GPU kernels and networks" "$bin/mtcnn_wgpu" parity_tests gpu:: --test-threads=1 --show-output
  step 120 "tests/gpu.rs" "$bin/gpu" --test-threads=1 --show-output
  step 120 "tests/batch.rs" "$bin/batch" --test-threads=1 --show-output
  # Not a check: each layer's GPU and CPU time, and the pyramid's.
  step 120 "per-layer profile" "$bin/mtcnn_wgpu" profile_layers --ignored --nocapture
fi
echo
echo "== done ($(date -u +%T)), $([ $failed = 0 ] && echo 'every step passed' || echo 'some steps FAILED')"
exit $failed
