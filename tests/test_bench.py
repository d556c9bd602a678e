"""`make bench` runs: one tiny round of scripts/bench.py on the toy model, every variant and lever ablation,
each checked against the plain-PyTorch reference step (a timing, never an assertion on seconds)."""

import subprocess
import sys

from conftest import REPO


def test_one_tiny_round_of_the_bench_runs_every_variant_and_ablation():
    out = subprocess.run(
        [sys.executable, "scripts/bench.py", "--models", "toy", "--rounds", "1", "--iters", "toy=1",
         "--precisions", "32-true"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [line for line in out.stdout.splitlines() if line.startswith("| toy (")]
    variants = [row.split("|")[4].strip() for row in rows]
    levers = ["torch.nn ReLU (zero pass kept)", "foreach Adam (not fused)", "separate real and fake critic forwards"]
    assert {"reference", "bare", "lightning", *(f"bare, {lever}" for lever in levers)} <= set(variants), variants
    assert all(row.split("|")[-2].strip().startswith(("ok", "(reference)")) for row in rows), rows
