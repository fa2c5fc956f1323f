#!/usr/bin/env python3
"""Training-step throughput of purenoise against PyTorch, on the CPU or a CUDA GPU, in one
invocation.

Install PyTorch first (the CPU build is enough for --device cpu; nothing else beyond the
standard library):

    pip install torch

Usage (from the repository root):

    python3 bench/compare_pytorch.py --models resnet-32,wrn-16-4 --batch-size 128 --steps 5 \
        [--device cpu|cuda] [--adapter SPEC] [--purenoise target/release/purenoise] [--json OUT]

With --device cuda, PyTorch runs on the GPU in float32 with TF32 off (cuBLAS and cuDNN), cuDNN's
autotuner on, and its peak is torch.cuda.max_memory_allocated over model creation plus two steps
(the caching allocator's live bytes, what purenoise's pool accounting also counts);
purenoise runs on the adapter --adapter names (default: the best one, a discrete GPU first).
The CPU-specific notes below (threads, OpenMP, the profiler's memory events) apply to
--device cpu.

For each model the script
  1. builds the same network in PyTorch as src/models/ builds in purenoise (akamaster's CIFAR
     ResNet with option-A shortcuts; the pre-activation WideResNet of src/models/wrn.rs, dropout
     0.3) and asserts the parameter counts match (resnet-32: 464,154; wrn-28-10: 36,479,194
     with 10 classes);
  2. times full PyTorch training steps on synthetic CIFAR-sized data -- forward, cross-entropy,
     backward, SGD (momentum 0.9, weight decay 5e-4; bench train uses 2e-4, which costs the
     same) -- in float32 on the CPU with
     torch.set_num_threads(<cores>) and OMP_WAIT_POLICY=PASSIVE unless set (below):
     2 warm-up steps, then the median of --steps;
  3. measures PyTorch's peak memory: the highest total of bytes live in PyTorch's CPU
     allocator, from torch.profiler's memory events, over model creation plus two training
     steps (so parameters, gradients, momentum, activations and saved tensors are all counted;
     memory a library allocates outside PyTorch's allocator, e.g. oneDNN's internal caches, and
     the interpreter itself are not);
  4. runs `purenoise bench train --model M --batch-size B --steps K --json` and reads its images/s
     and peak memory (parameter arenas + the buffer pool's peak on the adapter).

The PyTorch side is plain batch norm on clean data; purenoise's bench train replaces a quarter
of each batch with pure noise and routes it through DAR-BN (its default), which is what a real
OPeN run does. The two runs are sequential, never concurrent, so they see the same machine
but not necessarily the same load: the load average is printed before each so the reader can
judge. The number to quote is the ratio (our images/s / PyTorch's), not either absolute time.

PyTorch's OpenMP threads are told to wait passively (OMP_WAIT_POLICY=PASSIVE) unless the
environment says otherwise: spinning waits, the default, make PyTorch up to 10x slower when
other processes share the cores, which would flatter the ratio.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

# OpenMP threads that spin while they wait (libgomp's default) collapse when the cores are
# shared: on this 2-core machine at load 5, ResNet-32 trained at 7.9 images/s with 2 spinning
# threads and 72.7 with 2 passive ones. It must be set before torch loads OpenMP; an explicit
# setting in the environment wins, and the record says which was used.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402 (after the OpenMP setting above)
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

CLASSES = 10
# Parameter counts of src/models/ with 10 classes, so a drift in either implementation shows.
KNOWN_PARAMETERS = {"resnet-32": 464_154, "wrn-28-10": 36_479_194}


# --- akamaster's CIFAR ResNet (src/models/resnet.rs) -------------------------------------------


class ResNetBlock(nn.Module):
    """conv3x3 (stride) -> BN -> ReLU -> conv3x3 -> BN, + shortcut, -> ReLU."""

    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        # Option A: subsample by 2 and zero-pad the channels; no parameters.
        self.pad = c_out // 4 if (stride != 1 or c_in != c_out) else None

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.pad is None:
            shortcut = x
        else:
            shortcut = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
        return F.relu(out + shortcut)


class ResNet(nn.Module):
    def __init__(self, depth, classes):
        super().__init__()
        per_stage = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.blocks = nn.Sequential(
            *[ResNetBlock(c_in, c_out, s) for c_in, c_out, s in block_plan(per_stage, (16, 32, 64))]
        )
        self.linear = nn.Linear(64, classes)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.blocks(h)
        return self.linear(F.adaptive_avg_pool2d(h, 1).flatten(1))


# --- pre-activation WideResNet (src/models/wrn.rs) ---------------------------------------------


class WrnBlock(nn.Module):
    """BN -> ReLU -> conv3x3 (stride) -> dropout -> BN -> ReLU -> conv3x3, + the block's input
    through a shortcut (identity, or a strided 1x1 conv when the shape changes)."""

    def __init__(self, c_in, c_out, stride, dropout):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        changes_shape = stride != 1 or c_in != c_out
        self.shortcut = nn.Conv2d(c_in, c_out, 1, stride, 0, bias=False) if changes_shape else None

    def forward(self, x):
        out = self.dropout(self.conv1(F.relu(self.bn1(x))))
        out = self.conv2(F.relu(self.bn2(out)))
        return out + (x if self.shortcut is None else self.shortcut(x))


class Wrn(nn.Module):
    def __init__(self, depth, widen, classes, dropout=0.3):
        super().__init__()
        per_stage = (depth - 4) // 6
        widths = (16 * widen, 32 * widen, 64 * widen)
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.blocks = nn.Sequential(
            *[WrnBlock(c_in, c_out, s, dropout) for c_in, c_out, s in block_plan(per_stage, widths)]
        )
        self.bn1 = nn.BatchNorm2d(widths[2])
        self.fc = nn.Linear(widths[2], classes)

    def forward(self, x):
        h = self.blocks(self.conv1(x))
        h = F.relu(self.bn1(h))
        return self.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))


def block_plan(per_stage, widths):
    """(c_in, c_out, stride) of every block after the 16-channel stem, as src/models/layers.rs."""
    plan, c_in = [], 16
    for stage, width in enumerate(widths):
        for i in range(per_stage):
            plan.append((c_in, width, 2 if i == 0 and stage > 0 else 1))
            c_in = width
    return plan


def build(name):
    parts = name.split("-")
    if parts[0] == "resnet" and len(parts) == 2:
        return ResNet(int(parts[1]), CLASSES)
    if parts[0] == "wrn" and len(parts) == 3:
        return Wrn(int(parts[1]), int(parts[2]), CLASSES)
    sys.exit(f"unknown model {name!r}: use resnet-D or wrn-D-K")


def parameter_count(model):
    return sum(p.numel() for p in model.parameters())


# --- PyTorch measurements ----------------------------------------------------------------------


def training_step_fn(model, batch, device):
    """A step closure over fixed synthetic data, as purenoise's bench train uses."""
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, 32, 32, generator=gen).to(device)
    labels = torch.randint(0, CLASSES, (batch,), generator=gen).to(device)
    model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        opt.step()
        # Like a real step (and purenoise's), read the loss back; on a GPU this also waits for
        # the step to finish, so wall-clock timing is fair.
        return loss.item()

    return step


def time_pytorch(name, batch, steps, device):
    model = build(name)
    step = training_step_fn(model, batch, device)
    for _ in range(2):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def pytorch_peak_bytes(name, batch, device):
    """Highest total of live bytes in PyTorch's allocator over model creation + two steps."""
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        step = training_step_fn(build(name), batch, device)
        step()
        step()
        return torch.cuda.max_memory_allocated()
    return pytorch_cpu_peak_bytes(name, batch)


def pytorch_cpu_peak_bytes(name, batch):
    """Highest total of live bytes in PyTorch's CPU allocator over model creation + two steps,
    from the profiler's memory events (each carries the allocation or free in bytes)."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    with torch.profiler.profile(activities=activities, profile_memory=True) as prof:
        step = training_step_fn(build(name), batch, "cpu")
        step()
        step()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "trace.json")
        prof.export_chrome_trace(path)
        with open(path) as f:
            events = json.load(f)["traceEvents"]
    memory = sorted(
        (e["ts"], e["args"]["Bytes"])
        for e in events
        if e.get("name") == "[memory]" and e.get("args", {}).get("Device Type") == 0
    )
    if not memory:
        return None
    live = peak = 0
    for _, nbytes in memory:
        live += nbytes
        peak = max(peak, live)
    return peak


# --- purenoise -------------------------------------------------------------------------------


def purenoise_command(path):
    if path:
        return [path]
    built = os.path.join("target", "release", "purenoise")
    if os.path.exists(built):
        return [built]
    if shutil.which("cargo"):
        return ["cargo", "run", "--release", "--quiet", "--"]
    sys.exit("no purenoise binary: build it (cargo build --release) or pass --purenoise PATH")


def run_purenoise(command, adapter, name, batch, steps):
    args = command + (["--adapter", adapter] if adapter else []) + [
        "bench", "train", "--model", name, "--batch-size", str(batch), "--steps", str(steps), "--json",
    ]
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout)


def load():
    return os.getloadavg()[0]


def memory(nbytes):
    if nbytes is None:
        return "n/a"
    return f"{nbytes / 2**20:.0f} MiB" if nbytes < 2**30 else f"{nbytes / 2**30:.2f} GiB"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="resnet-32,wrn-16-4")
    parser.add_argument("--batch-size", "--batch", dest="batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5, help="timed steps after 2 warm-up steps")
    parser.add_argument("--purenoise", help="the purenoise binary [target/release/purenoise]")
    parser.add_argument("--json", help="also write every row, with settings, to this file")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="where PyTorch runs (cuda: float32, TF32 off)")
    parser.add_argument("--adapter", help="purenoise's --adapter (index or part of the name)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.device == "cuda":
        if not torch.cuda.is_available():
            sys.exit("--device cuda: this PyTorch sees no CUDA GPU (torch.cuda.is_available())")
        # The reference is float32 arithmetic, as purenoise's kernels do.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
    command = purenoise_command(args.purenoise)

    rows = []
    for name in args.models.split(","):
        count = parameter_count(build(name))
        expected = KNOWN_PARAMETERS.get(name)
        assert expected is None or count == expected, f"{name}: {count} parameters, want {expected}"

        load_torch = load()
        torch_s = time_pytorch(name, args.batch, args.steps, args.device)
        torch_peak = pytorch_peak_bytes(name, args.batch, args.device)
        load_ours = load()
        ours = run_purenoise(command, args.adapter, name, args.batch, args.steps)
        if ours["parameters"] != count:
            sys.exit(f"{name}: purenoise has {ours['parameters']} parameters, PyTorch {count}")
        row = {
            "model": name,
            "parameters": count,
            "batch": args.batch,
            "steps": args.steps,
            "ours_images_per_s": ours["images_per_s"],
            "ours_step_seconds": ours["step_seconds"],
            "ours_noise_images": ours["noise_images"],
            "ours_bn": ours["bn"],
            "ours_peak_memory_bytes": ours["peak_memory_bytes"],
            "ours_adapter": ours["adapter"]["name"],
            "pytorch_images_per_s": args.batch / torch_s,
            "pytorch_step_seconds": torch_s,
            "pytorch_peak_memory_bytes": torch_peak,
            "ratio": ours["images_per_s"] / (args.batch / torch_s),
            "load_before_pytorch": load_torch,
            "load_before_ours": load_ours,
            # bench train's whole record: settings, adapter, and the time split by kernel.
            "purenoise_record": ours,
        }
        rows.append(row)
        print(
            f"{name}: ours {row['ours_images_per_s']:.2f} images/s (load {load_ours:.1f}), "
            f"PyTorch {row['pytorch_images_per_s']:.1f} (load {load_torch:.1f})",
            file=sys.stderr,
        )

    where = (
        f"on {torch.cuda.get_device_name()} (TF32 off)"
        if args.device == "cuda"
        else f"{args.threads} threads (OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']})"
    )
    print(
        f"PyTorch {torch.__version__} {where}, float32, plain BN; "
        f"purenoise on {rows[0]['ours_adapter']}, DAR-BN with "
        f"{rows[0]['ours_noise_images']}/{args.batch} noise images; "
        f"median of {args.steps} steps after 2 warm-up"
    )
    header = ["model", "batch", "ours img/s", "PyTorch img/s", "ratio", "ours peak", "PyTorch peak"]
    print(" | ".join(header))
    for r in rows:
        print(
            " | ".join(
                [
                    r["model"],
                    str(r["batch"]),
                    f"{r['ours_images_per_s']:.2f}",
                    f"{r['pytorch_images_per_s']:.1f}",
                    f"{r['ratio']:.4f}",
                    memory(r["ours_peak_memory_bytes"]),
                    memory(r["pytorch_peak_memory_bytes"]),
                ]
            )
        )
    if args.json:
        record = {
            "measured_at_unix": int(time.time()),
            "pytorch_version": torch.__version__,
            "pytorch_device": (
                torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
            ),
            "threads": args.threads,
            "omp_wait_policy": os.environ["OMP_WAIT_POLICY"],
            "rows": rows,
        }
        with open(args.json, "w") as f:
            json.dump(record, f, indent=2)


if __name__ == "__main__":
    main()
