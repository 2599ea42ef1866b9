"""Kiln-vs-PyTorch comparison driver (run it through bench/compare.sh).

Runs each workload in PyTorch (in this process) and in Kiln (the `kiln-bench serve` process,
driven over a line protocol), alternating: several rounds of Kiln-then-PyTorch, each round a
median over repeated iterations after warm-up. Both sides use the same thread count. Prints a
table and appends one JSON line per workload to the results file:

    {"name": ..., "threads": 2, "kiln_ms": 1.23, "ref": "torch", "ref_ms": 1.50, "ratio": 0.82}

where the times are the medians of the round medians and ratio = kiln_ms / ref_ms.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

MIN_ITERS = 5
MAX_ITERS = 5000
N4M = 4 * 1024 * 1024


def measure(fn, target_ms):
    """The same rule as bench/src/timing.rs: >= 2 warm-up iterations (and a fifth of the
    target), then timed iterations for about target_ms; returns (median ms, iterations)."""
    warm_start = time.perf_counter()
    warm = 0
    while warm < 2 or ((time.perf_counter() - warm_start) * 1e3 < target_ms / 5 and warm < MAX_ITERS):
        fn()
        warm += 1
    times = []
    start = time.perf_counter()
    while len(times) < MIN_ITERS or ((time.perf_counter() - start) * 1e3 < target_ms and len(times) < MAX_ITERS):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), len(times)


# ---- workloads: one small function each, the same as bench/src/workloads.rs ----


def sgemm(m, k, n):
    a = torch.randn(m, k)
    b = torch.randn(k, n)
    return lambda: torch.matmul(a, b)


def add_4m():
    a, b = torch.randn(N4M), torch.randn(N4M)
    return lambda: torch.add(a, b)


def mul_4m():
    a, b = torch.randn(N4M), torch.randn(N4M)
    return lambda: torch.mul(a, b)


def gelu_4m():
    a = torch.randn(N4M)
    return lambda: F.gelu(a)


def tiny_chain():
    x = torch.full((1,), 0.5, requires_grad=True)
    w = torch.full((1,), 0.9, requires_grad=True)

    def it():
        x.grad = None
        w.grad = None
        y = x
        for _ in range(250):
            y = torch.tanh(y * w + 0.1) - x
        y.backward()

    return it


def softmax():
    x = torch.randn(4096, 1024)
    return lambda: torch.softmax(x, -1)


def layer_norm():
    x = torch.randn(4096, 1024)
    w, b = torch.randn(1024), torch.randn(1024)
    return lambda: F.layer_norm(x, (1024,), w, b, 1e-5)


def conv2d(batch, cin, cout, k, hw, pad, input_grad):
    x = torch.randn(batch, cin, hw, hw, requires_grad=input_grad)
    w = torch.randn(cout, cin, k, k, requires_grad=True)
    b = torch.randn(cout, requires_grad=True)

    def it():
        x.grad = w.grad = b.grad = None
        F.conv2d(x, w, b, padding=pad).sum().backward()

    return it


def train_step(model, opt, x, y):
    def it():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    return it


def train_mlp_adam():
    m = torch.nn.Sequential(
        torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10)
    )
    # foreach=True is PyTorch's default on CPU too when all params are on one device.
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    return train_step(m, opt, torch.randn(128, 784), torch.randint(0, 10, (128,)))


def train_lenet_sgd():
    nn = torch.nn
    m = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
    return train_step(m, opt, torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,)))


WORKLOADS = {
    "sgemm_256": lambda: sgemm(256, 256, 256),
    "sgemm_1024": lambda: sgemm(1024, 1024, 1024),
    "sgemm_2048x512x2048": lambda: sgemm(2048, 512, 2048),
    "add_4M": add_4m,
    "mul_4M": mul_4m,
    "gelu_4M": gelu_4m,
    "tiny_chain_1000": tiny_chain,
    "softmax_4096x1024": softmax,
    "layer_norm_4096x1024": layer_norm,
    "conv2d_lenet_fwd_bwd": lambda: conv2d(64, 1, 6, 5, 28, 0, False),
    "conv2d_resnet_fwd_bwd": lambda: conv2d(8, 64, 64, 3, 56, 1, True),
    "train_mlp_adam_b128": train_mlp_adam,
    "train_lenet_sgd_b64": train_lenet_sgd,
}


class Kiln:
    """The `kiln-bench serve` subprocess."""

    def __init__(self, binary, threads):
        self.p = subprocess.Popen(
            [binary, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        assert self.ask(f"threads {threads}") == "ok"

    def ask(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        reply = self.p.stdout.readline().strip()
        if not reply:
            raise RuntimeError(f"kiln-bench exited (code {self.p.poll()}) on {line!r}")
        return reply

    def round(self, name, target_ms):
        """(median ms, None) or (None, reason)."""
        reply = self.ask(f"run {name} {target_ms}")
        kind, _, rest = reply.partition(" ")
        if kind == "ok":
            return float(rest.split()[0]), None
        return None, ("n/a (" + rest + ")") if kind == "na" else ("error: " + rest)

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", required=True, help="path of the kiln-bench binary")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--target-ms", type=float, default=300.0, help="time per round per side")
    ap.add_argument("--out", required=True, help="JSON-lines file to append to")
    ap.add_argument("filter", nargs="?", default="", help="run workloads whose name contains this")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    kiln = Kiln(args.kiln, args.threads)
    names = [n for n in WORKLOADS if args.filter in n]
    if not names:
        sys.exit(f"no workload matches {args.filter!r}; known: {', '.join(WORKLOADS)}")
    print(f"torch {torch.__version__}, {args.threads} threads, {args.rounds} rounds of ~{args.target_ms:.0f} ms per side")
    header = f"{'workload':<24} {'threads':>7} {'kiln ms':>12} {'torch ms':>12} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    with open(args.out, "a") as out:
        for name in names:
            torch.manual_seed(0)
            torch_fn = WORKLOADS[name]()
            k_times, t_times, missing = [], [], None
            for _ in range(args.rounds):
                if missing is None:
                    k, missing = kiln.round(name, args.target_ms)
                    if k is not None:
                        k_times.append(k)
                t_times.append(measure(torch_fn, args.target_ms)[0])
            ref_ms = statistics.median(t_times)
            if missing is not None:
                print(f"{name:<24} {args.threads:>7} {missing:>12} {ref_ms:>12.3f} {'-':>7}", flush=True)
                continue
            kiln_ms = statistics.median(k_times)
            ratio = kiln_ms / ref_ms
            print(f"{name:<24} {args.threads:>7} {kiln_ms:>12.3f} {ref_ms:>12.3f} {ratio:>7.2f}", flush=True)
            rec = {"name": name, "threads": args.threads, "kiln_ms": round(kiln_ms, 4), "ref": "torch",
                   "ref_ms": round(ref_ms, 4), "ratio": round(ratio, 3)}
            out.write(json.dumps(rec) + "\n")
            out.flush()
    kiln.close()


if __name__ == "__main__":
    main()
