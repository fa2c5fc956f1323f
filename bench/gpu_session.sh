#!/usr/bin/env bash
# One device-tool call's worth of real-GPU checks, prepared here and run there in one go:
# `bench tune` first (its choices, cached in a folder of this session, are what every later
# bench and the PyTorch comparison's `bench train` run), then bench peak / train / kernels /
# memory and the PyTorch comparison (float32, TF32 off) on the same GPU, then memory, tuning and
# training with --precision mixed, then the kernel reference tests on the GPU (last: a test that
# loses the device would leave the benches nothing), every record under $OUT.
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
  # The device image may lack the Vulkan loader and the GL vendor-neutral dispatch libraries
  # NVIDIA's Vulkan driver links against (library/device/README.md): carry Debian's.
  rm -rf .gl && mkdir -p .gl /tmp/amd64/partial
  local o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
  apt-get "${o[@]}" update -q >/dev/null
  (cd .gl && apt-get "${o[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 \
    libglx0 libgles2 >/dev/null)
  du -sh .gpu .gl
}

run() {
  local out="${OUT:-/tmp/gpu-session}"
  mkdir -p "$out"
  exec > >(tee "$out/session.log") 2>&1
  device_setup
  local pn=.gpu/purenoise
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null
  if ! stage 20 "" "$pn" devices; then
    # No adapter: say why (the loader's own account) and stop before spending device time.
    ls -l /usr/local/nvidia/share/vulkan/icd.d /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>&1
    cat "${VK_DRIVER_FILES:-/dev/null}"
    ldconfig -p | grep -E 'vulkan|GLX|GLdispatch|nvidia' | head -20
    VK_LOADER_DEBUG=error,warn,driver "$pn" devices 2>&1 | tail -40
    return 1
  fi
  # Winograd candidates roughly double the timed runs of 3x3 stride-1 layers (25 s before, 83 s
  # with F(2x2) in session 6); F(4x4) adds as many again.
  stage 200 "$out/tune.json" "$pn" bench tune --model "$MODEL" --batch-size "$BATCH" --json
  stage 20 "$out/peak.json" "$pn" bench peak --json
  stage 60 "$out/train.json" "$pn" bench train --model "$MODEL" --batch-size "$BATCH" --steps 5 --json
  stage 60 "$out/kernels.json" "$pn" bench kernels --model "$MODEL" --batch-size "$BATCH" --json
  stage 30 "$out/memory.json" "$pn" bench memory --model "$MODEL" --batch-size "$BATCH" --json
  stage 120 "" env PYTHONUNBUFFERED=1 python3 bench/compare_pytorch.py --device "$DEVICE" \
    --models "resnet-32,$MODEL" --batch-size "$BATCH" --steps 5 --purenoise "$pn" \
    --json "$out/compare.json"
  # Mixed precision (f16 activations), after the f32 answers: its memory as a table in the log
  # (the tool returns at most 8 files), its speed as a record beside f32's.
  stage 20 "" "$pn" bench memory --model "$MODEL" --batch-size "$BATCH" --precision mixed
  # f16 activations are tuned apart from f32 (untuned, they run the f32 choices).
  stage 200 "" "$pn" bench tune --model "$MODEL" --batch-size "$BATCH" --precision mixed
  stage 60 "$out/train-mixed.json" "$pn" bench train --model "$MODEL" --batch-size "$BATCH" \
    --steps 5 --precision mixed --json
  # The convolution and Winograd tests one by one, each timed: with 20 tiles the convolution
  # reference test ran past 60 s on the H200 (session 6), and the Winograd tests now run every
  # tile for both F(2x2) and F(4x4), so each gets 120.
  local t name
  for t in conv winograd; do
    for name in $(".gpu/tests/$t" --list --format terse 2>/dev/null | sed -n 's/: test$//p'); do
      stage 120 "" ".gpu/tests/$t" --exact "$name" --test-threads 1
    done
  done
  for t in "${GPU_TESTS[@]}"; do
    [ "$t" = conv ] || [ "$t" = winograd ] || stage 60 "" ".gpu/tests/$t" --test-threads 1
  done
  date -u
}

# The Vulkan loader and GL dispatch libraries carried in .gl/, NVIDIA's driver files, and a
# fresh tuning cache: this session's choices, not a stale one's.
device_setup() {
  local icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  # Only on the device machine (its driver mounted there) or where no loader is installed: the
  # packages unpack into /.
  if compgen -G '.gl/*.deb' >/dev/null &&
    { [ -f "$icd" ] || ! ldconfig -p | grep -q 'libvulkan\.so\.1'; }; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
  fi
  if [ -f "$icd" ] && [ -z "${VK_DRIVER_FILES:-}" ]; then export VK_DRIVER_FILES="$icd"; fi
  local egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  if [ -f "$egl" ]; then export __EGL_VENDOR_LIBRARY_FILENAMES="$egl"; fi
  export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
  export PURENOISE_CACHE_DIR="/tmp/gpu-session-cache.$$"
}

# Several builds side by side on one GPU, to judge a branch against main in one call:
# `prepare-build NAME DIR` (here) strips DIR's release binary into .gpu/builds/NAME; `builds`
# (there) tunes each with a cache of its own, then benches its kernels and a training step, and
# prints a line per build; every record comes back in builds.tar.gz.
prepare_build() {
  set -e
  local name="$1" dir="$2"
  # This checkout's target folder: the dependencies are built already, only purenoise recompiles.
  local target="$PWD/target"
  (cd "$dir" && CARGO_TARGET_DIR="$target" cargo build --release)
  mkdir -p .gpu/builds
  strip -o ".gpu/builds/$name" "$target/release/purenoise"
}

builds() {
  local out="${OUT:-/tmp/gpu-session}" records=/tmp/gpu-builds
  mkdir -p "$out" "$records"
  exec > >(tee "$out/session.log") 2>&1
  device_setup
  date -u
  local pn name
  for pn in .gpu/builds/*; do
    name=$(basename "$pn")
    export PURENOISE_CACHE_DIR="/tmp/gpu-builds-cache.$name"
    stage 150 "$records/$name-tune.json" "$pn" bench tune --model "$MODEL" --batch-size "$BATCH" --json
    stage 60 "$records/$name-kernels.json" "$pn" bench kernels --model "$MODEL" --batch-size "$BATCH" --json
    stage 60 "$records/$name-train.json" "$pn" bench train --model "$MODEL" --batch-size "$BATCH" --steps 5 --json
  done
  python3 - "$records" <<'PY'
import json, pathlib, sys
d = pathlib.Path(sys.argv[1])
for k in sorted(d.glob("*-kernels.json")):
    name = k.name[: -len("-kernels.json")]
    try:
        total = json.loads(k.read_text())["convolution_total"]
        train = json.loads((d / f"{name}-train.json").read_text())
        print(f"{name}: convolutions {total['gflops'] / 1e3:.1f} TFLOP/s = {100 * total['of_peak']:.1f} % of peak, "
              f"step {train['step_seconds'] * 1e3:.1f} ms = {train['images_per_s']:.0f} img/s")
    except (OSError, ValueError, KeyError) as e:
        print(f"{name}: no complete record ({e})")
PY
  tar -C "$records" -czf "$out/builds.tar.gz" .
  date -u
}

# The whole call's budget: the device tool allows 10 minutes a command, and what is left of
# the session's device time after the machine has started may be less (BUDGET_S overrides).
# Each stage gets its own limit or what is left of the budget, whichever is less, so the call
# ends by itself with its log complete instead of being cut off mid-stage.
DEADLINE=$((SECONDS + ${BUDGET_S:-560}))

# stage SECONDS RECORD COMMAND…: runs COMMAND under a time limit; its stdout goes to RECORD
# when one is named (a JSON record), else to the log.
stage() {
  local limit="$1" record="$2"
  shift 2
  local left=$((DEADLINE - SECONDS))
  if [ "$left" -lt 10 ]; then
    echo "== skipped, the call's budget is spent: $*"
    return 124
  fi
  [ "$limit" -le "$left" ] || limit=$left
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
  return "$rc"
}

case "${1:-}" in
  prepare) prepare ;;
  run) run ;;
  prepare-build) prepare_build "${@:2}" ;;
  builds) builds ;;
  *)
    echo "usage: bash bench/gpu_session.sh prepare|run|prepare-build NAME DIR|builds (see the comments)" >&2
    exit 2
    ;;
esac
