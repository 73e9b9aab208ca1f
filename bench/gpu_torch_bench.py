#!/usr/bin/env python3
"""PyTorch beside psflow on the same GPU: the dnn_classifier and
cnn_classifier training steps (same layers, Adam, batch 128, float32 with
TF32 off, as psflow's cuBLAS calls), timed the way gpu_step_bench times
psflow's (each step ends by reading the loss), then the ratio of the two.

    bench/gpu_torch_bench.py [--psflow build/bench/gpu_step_bench] [--steps 200] [--batch 128]

Prints a line saying why and exits 0 when torch does not import or sees no
GPU.  A benchmark, not a test: torch is never a psflow dependency.
"""
import argparse
import json
import subprocess
import sys
import time


def models(torch):
    nn = torch.nn
    dnn = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    cnn = nn.Sequential(
        nn.Unflatten(1, (1, 28, 28)),
        nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(7 * 7 * 64, 1024), nn.ReLU(), nn.Linear(1024, 10))
    return {"dnn": dnn, "cnn": cnn}


def time_steps(torch, model, batch, steps):
    dev = torch.device("cuda")
    model = model.to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.rand(batch, 784, device=dev)
    y = torch.randint(0, 10, (batch,), device=dev)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()  # waits for the step, as psflow's Session::Run does

    for _ in range(20):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--psflow", default="build/bench/gpu_step_bench")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch", type=int, default=128)
    args = ap.parse_args()
    try:
        import torch
    except ImportError as e:
        print(f"gpu_torch_bench: skipped: torch does not import ({e})")
        return 0
    if not torch.cuda.is_available():
        print("gpu_torch_bench: skipped: torch sees no CUDA device")
        return 0
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    psflow = {}
    try:
        out = subprocess.run([args.psflow, "--json", "--steps", str(args.steps), "--batch", str(args.batch), "--cpu_steps", "3"],
                             check=True, capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("{"):
                r = json.loads(line)
                psflow[r["model"]] = r
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"gpu_torch_bench: psflow's figures unavailable ({e}); PyTorch only")
    print(f"gpu_torch_bench: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, batch {args.batch}, "
          f"{args.steps} steps, float32 (TF32 off)")
    for name, model in models(torch).items():
        t = time_steps(torch, model, args.batch, args.steps)
        line = f"  {name}: pytorch {t * 1e3:8.3f} ms/step"
        p = psflow.get(name)
        if p and p["gpu_step_ms"] > 0:
            line += f"   psflow {p['gpu_step_ms']:8.3f} ms/step   psflow/pytorch time {p['gpu_step_ms'] / (t * 1e3):.2f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
