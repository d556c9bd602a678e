"""A batch that cannot fit is refused before training, with both numbers."""

import json
import subprocess
import sys
import time

import pytest

from conftest import REPO, run_cli
from faults import assert_one_paragraph
from wgangp.build import build
from wgangp.errors import UserInputError
from wgangp.memory import check_memory, estimate_iteration_memory, free_memory


def test_a_ten_million_toy_batch_is_refused_within_seconds(tmp_path):
    t0 = time.perf_counter()
    out = run_cli(
        "train.py", "data.batch_size=10000000", "debug=fast", f"hydra.run.dir={tmp_path}", env={"OMP_NUM_THREADS": "1"}
    )
    seconds = time.perf_counter() - t0
    message = assert_one_paragraph(
        out,
        2,
        "a generator iteration at data.batch_size=10000000 needs about",
        "is free on cpu (MemAvailable",
        "Lower data.batch_size to at most",
    )
    assert seconds < 60, seconds  # the import and composition dominate; before, it ran 3.5 min to an OOM kill
    assert not (tmp_path / "checkpoints").exists()
    suggested = int(message.split("at most ")[1].split(",")[0])
    assert 1000 < suggested < 10_000_000


def test_a_normal_run_is_not_refused_and_the_estimate_is_linear(tiny_config):
    import torch

    _, objective = build(tiny_config())
    estimate = check_memory(objective, 256, torch.device("cpu"))
    assert estimate is not None and estimate.at(256) < free_memory(torch.device("cpu"))[0]
    assert estimate.per_sample > 0
    assert estimate.at(2000) - estimate.at(1000) == pytest.approx(1000 * estimate.per_sample)
    before = [p.detach().clone() for p in objective.parameters()]
    estimate_iteration_memory(objective)
    assert all(torch.equal(a, b) for a, b in zip(before, objective.parameters(), strict=True))  # a copy ran


PEAK = """
import json, resource, sys
from pathlib import Path
import lightning as L
from wgangp.build import build, compose_config
from wgangp.memory import estimate_iteration_memory
batch = int(sys.argv[1])
cfg = compose_config(Path(sys.argv[2]), ["debug=fast", f"data.batch_size={batch}", "model.generator.width=128",
                                         "model.critic.width=128"])
dm, objective = build(cfg)
estimate = estimate_iteration_memory(objective, precision="32")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
L.Trainer(max_steps=2 * (objective.n_critic + 1), accelerator="cpu", precision="32", logger=False,
          enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False).fit(objective, dm)
rise = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
print(json.dumps({"rise": rise, "estimate": estimate.per_sample * batch}))
"""


def test_a_huge_generator_batch_is_refused_naming_its_field(tiny_config):
    import torch

    _, objective = build(tiny_config("objective.generator_batch_size=100000000000"))
    with pytest.raises(
        UserInputError, match=r"objective.generator_batch_size=100000000000 needs about .* Lower objective"
    ):
        check_memory(objective, 256, torch.device("cpu"))


@pytest.mark.slow
def test_the_estimate_matches_a_measured_peak(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", PEAK, "100000", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={"OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    numbers = json.loads(out.stdout.strip().splitlines()[-1])
    assert 0.5 < numbers["estimate"] / numbers["rise"] < 2.0, numbers


def test_a_cuda_out_of_memory_error_is_one_paragraph(tmp_path):
    # No GPU here: the error torch raises on one, thrown inside the boundary every entry point uses.
    code = (
        "import torch\nfrom wgangp.cli import error_boundary\nwith error_boundary():\n"
        "    raise torch.cuda.OutOfMemoryError('CUDA out of memory. Tried to allocate 20.00 GiB.\\nmore detail')"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert_one_paragraph(
        out, 2, "the GPU ran out of memory (CUDA out of memory. Tried to allocate 20.00 GiB.)", "lower data.batch_size"
    )
