"""trainer=ddp with 2 CPU processes (gloo): both ranks agree, and match one process with the global batch."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ddp_worker import fit_and_weights
from wgangp.strategies import GANDDPStrategy

HERE = Path(__file__).resolve().parent
# A tiny toy run: 3 generator iterations of n_critic=5 critic steps, 16-wide MLPs, batch 8 per process, in
# fp32 (bf16 rounding would hide the comparison with the single process), with SGD: its update is linear
# in the gradient, so the two runs' different summation orders stay rounding-sized. Adam's first steps are
# sign-like: a gradient that is 0 in exact arithmetic (the bias of a unit active on every row, where
# E[D(fake)] - E[D(real)] cancels) is rounding noise of either sign, and Adam turns it into a step of lr.
COMMON = [
    "experiment=toy",
    "model.generator.width=16",
    "model.critic.width=16",
    "generator_iters=3",
    "trainer.precision=32-true",
    "objective.optimizer._target_=torch.optim.SGD",
    "objective.optimizer.lr=0.1",
    "~objective.optimizer.betas",
    "~objective.optimizer.fused",
]


PER_PROCESS_BATCHES = ["data.batch_size=8", "objective.generator_batch_size=6"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_match_each_other_and_one_process_with_the_global_batch(tiny_config, tmp_path):
    env = {
        **os.environ,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
        "NODE_RANK": "0",
        "OMP_NUM_THREADS": "1",
        "PYTHONWARNINGS": "ignore",
    }
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            # a generator batch apart from the critic's (6 per process): its z too is the global draw's slice
            [sys.executable, str(HERE / "ddp_worker.py"), str(tmp_path), *COMMON, *PER_PROCESS_BATCHES],
            env={**env, "LOCAL_RANK": str(rank)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in (0, 1)
    ]
    # The single-process reference runs here meanwhile, with the global batches 2 x 8 and 2 x 6.
    single = fit_and_weights(tiny_config(*COMMON, "data.batch_size=16", "objective.generator_batch_size=12"))
    for p in procs:
        out, _ = p.communicate(timeout=240)
        assert p.returncode == 0, out[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    print(f"2-process DDP run: {time.perf_counter() - start:.1f} s")

    for player in ("generator", "critic"):
        for name, w0 in ranks[0][player].items():
            torch.testing.assert_close(ranks[1][player][name], w0, rtol=0, atol=0)  # identical on both ranks
            torch.testing.assert_close(w0, single[player][name], rtol=1e-4, atol=1e-6)
            # the same start on every rank and in the single process, and training moved it
            torch.testing.assert_close(ranks[0]["initial"][player][name], single["initial"][player][name])
            if name.endswith("weight"):  # (the critic's last bias has no gradient: it cancels in E[D(r)] - E[D(f)])
                assert (w0 - single["initial"][player][name]).abs().max() > 1e-4, f"{player}.{name} did not train"


def test_strategy_refuses_ddp_wrapper_arguments():
    with pytest.raises(ValueError, match="find_unused_parameters"):
        GANDDPStrategy(find_unused_parameters=True)


def test_average_gradients_is_a_no_op_without_a_process_group():
    net = torch.nn.Linear(3, 2)
    net(torch.ones(4, 3)).sum().backward()
    before = net.weight.grad.clone()
    GANDDPStrategy().average_gradients(net)
    torch.testing.assert_close(net.weight.grad, before)
