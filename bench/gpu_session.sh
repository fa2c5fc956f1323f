#!/usr/bin/env bash
# One device-tool call's worth of real-GPU checks, prepared here and run there in one go:
# `bench tune` first (its choices, cached in a folder of this session, are what every later
# bench and the PyTorch comparison's `bench train` run), the kernel reference tests on the GPU,
# then bench peak / memory / train / kernels and the PyTorch comparison (float32, TF32 off) on
# the same GPU, every record under $OUT.
#
#   bash bench/gpu_session.sh prepare   # here: builds, strips the binaries into .gpu/ and
#                                       # downloads the Vulkan loader into .gl/ (both ignored)
#   bash bench/gpu_session.sh run       # there: run(command="bash bench/gpu_session.sh run",
#                                       #   carry=[".gpu", ".gl"], timeout_s=600)
#
# The device machine cannot build (no cargo) or download, hence the carried binaries; they are
# x86-64 Linux builds, as that machine is. Each stage has its own time limit so one slow stage
# leaves the others their time and the call ends inside the tool's 10 minutes. MODEL, BATCH
# and DEVICE (PyTorch's: cuda, or cpu to try the script on a machine without CUDA) override
# the defaults. Back come session.log and one JSON record per bench (the tool returns at most
# 8 files; the tuning cache itself stays behind, tune.json holds every choice).
set -uo pipefail
cd "$(dirname "$0")/.."

MODEL="${MODEL:-wrn-28-10}"
BATCH="${BATCH:-128}"
DEVICE="${DEVICE:-cuda}"
# The kernel tests worth a GPU: every WGSL kernel family (Winograd's too) against its f64
# reference, the gradient checks and the end-to-end network.
GPU_TESTS=(conv winograd norm elementwise autograd end_to_end)

prepare() {
  set -e
  cargo build --release
  rm -rf .gpu && mkdir -p .gpu/tests
  strip -o .gpu/purenoise target/release/purenoise
  cargo test --release --no-run --message-format=json 2>/dev/null |
    python3 -c '
import json, sys
wanted = set(sys.argv[1:])
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] in wanted:
        print(m["target"]["name"], m["executable"])' "${GPU_TESTS[@]}" |
    while read -r name exe; do strip -o ".gpu/tests/$name" "$exe"; done
  # The device image may lack the Vulkan loader (library/device/README.md): carry Debian's.
  mkdir -p .gl /tmp/amd64/partial
  local o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
  apt-get "${o[@]}" update -q >/dev/null
  (cd .gl && apt-get "${o[@]}" download libvulkan1 >/dev/null)
  du -sh .gpu .gl
}

run() {
  local out="${OUT:-/tmp/gpu-session}"
  mkdir -p "$out"
  exec > >(tee "$out/session.log") 2>&1
  if ! ldconfig -p | grep -q 'libvulkan\.so\.1' && compgen -G '.gl/*.deb' >/dev/null; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
  fi
  local icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  if [ -f "$icd" ] && [ -z "${VK_DRIVER_FILES:-}" ]; then export VK_DRIVER_FILES="$icd"; fi
  export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
  # A fresh tuning cache: this session's choices, not a stale one's.
  export PURENOISE_CACHE_DIR="/tmp/gpu-session-cache.$$"
  local pn=.gpu/purenoise
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null
  stage 30 "" "$pn" devices
  # Winograd candidates roughly double the timed runs of 3x3 stride-1 layers (25 s before).
  stage 150 "$out/tune.json" "$pn" bench tune --model "$MODEL" --batch-size "$BATCH" --json
  for t in "${GPU_TESTS[@]}"; do stage 90 "" ".gpu/tests/$t" --test-threads 1; done
  stage 30 "$out/peak.json" "$pn" bench peak --json
  stage 30 "$out/memory.json" "$pn" bench memory --model "$MODEL" --batch-size "$BATCH" --json
  stage 120 "$out/train.json" "$pn" bench train --model "$MODEL" --batch-size "$BATCH" --steps 5 --json
  stage 120 "$out/kernels.json" "$pn" bench kernels --model "$MODEL" --batch-size "$BATCH" --json
  stage 150 "" env PYTHONUNBUFFERED=1 python3 bench/compare_pytorch.py --device "$DEVICE" \
    --models "resnet-32,$MODEL" --batch-size "$BATCH" --steps 5 --purenoise "$pn" \
    --json "$out/compare.json"
  date -u
}

# stage SECONDS RECORD COMMAND…: runs COMMAND under a time limit; its stdout goes to RECORD
# when one is named (a JSON record), else to the log.
stage() {
  local limit="$1" record="$2"
  shift 2
  echo "== $* (limit ${limit} s)"
  local start=$SECONDS rc
  if [ -n "$record" ]; then
    timeout "$limit" "$@" >"$record"
    rc=$?
  else
    timeout "$limit" "$@"
    rc=$?
  fi
  echo "== exit $rc after $((SECONDS - start)) s"
}

case "${1:-}" in
  prepare) prepare ;;
  run) run ;;
  *)
    echo "usage: bash bench/gpu_session.sh prepare|run (see the comment at its top)" >&2
    exit 2
    ;;
esac
