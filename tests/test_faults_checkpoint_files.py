"""Checkpoint files that are not what they claim: refused in one paragraph (exit 2), nothing executed.

Every load of a checkpoint uses weights_only=True (wgangp.checkpoints.load_checkpoint, and train's resume
through Lightning's fit), so a file whose unpickling would run code is refused before anything runs.
"""

import os

import pytest
import torch

from conftest import TINY, run_cli
from wgangp.build import compose_config
from wgangp.checkpoints import load_checkpoint
from wgangp.errors import UserInputError
from wgangp.sampling import sample
from wgangp.train import train


class PlantsAFile:
    """Unpickling this runs os.system: what a crafted checkpoint would do under weights_only=False."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return os.system, (f"touch {self.target}",)


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory):
    run = tmp_path_factory.mktemp("good")
    train(compose_config(run, [*TINY, "generator_iters=2"]))
    return run / "checkpoints/last.ckpt"


def bad_checkpoint(kind, good, tmp_path):
    """A file of `kind` next to the test, and the file its unpickling would create (crafted only)."""
    path, planted = tmp_path / f"{kind}.ckpt", tmp_path / "planted_by_the_checkpoint"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":  # a copy that stopped half-way
        data = good.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "random":
        path.write_bytes(os.urandom(4096))
    elif kind == "crafted":  # a real checkpoint with a payload tucked into its wgangp section
        ckpt = torch.load(good, map_location="cpu", weights_only=True)
        ckpt["wgangp"]["payload"] = PlantsAFile(planted)
        torch.save(ckpt, path)
    elif kind == "not_wgangp":
        torch.save({"weights": torch.zeros(3)}, path)
    return path, planted


MESSAGES = {
    "empty": "is not a readable torch checkpoint: it is empty (0 bytes)",
    "truncated": "is not a readable torch checkpoint: it is truncated or not a checkpoint at all",
    "random": "is not a readable torch checkpoint: it is truncated or not a checkpoint at all",
    "crafted": "holds objects other than tensors and plain values (e.g. posix.system)",
    "not_wgangp": "is a torch file but not a wgangp training checkpoint",
}


def test_a_written_checkpoint_holds_only_tensors_and_plain_values(good_checkpoint):
    ckpt = torch.load(good_checkpoint, map_location="cpu", weights_only=True)  # raises on anything else
    assert ckpt["wgangp"]["generator_iter"] == 2 and "loggers" in ckpt


@pytest.mark.parametrize("kind", list(MESSAGES))
def test_load_checkpoint_and_wgangp_sample_refuse_it(kind, good_checkpoint, tmp_path):
    path, planted = bad_checkpoint(kind, good_checkpoint, tmp_path)
    for load in (load_checkpoint, lambda p: sample(p, 4)):
        with pytest.raises(UserInputError, match="pass a checkpoint a wgangp run wrote") as info:
            load(path)
        assert MESSAGES[kind] in str(info.value) and str(path) in str(info.value)
        assert "\n" not in str(info.value)  # one paragraph
    assert not planted.exists()


# each case is a subprocess (~5 s idle); the truncated and crafted ones run by default, all under -m slow
SUBPROCESS_KINDS = [
    pytest.param("empty", marks=pytest.mark.slow),
    "truncated",
    pytest.param("random", marks=pytest.mark.slow),
    "crafted",
]


@pytest.mark.parametrize("kind", SUBPROCESS_KINDS)
def test_sample_py_refuses_it_with_exit_2(kind, good_checkpoint, tmp_path):
    path, planted = bad_checkpoint(kind, good_checkpoint, tmp_path)
    out = run_cli("sample.py", f"ckpt_path={path}", "num_samples=4", f"out={tmp_path / 's.npy'}")
    assert out.returncode == 2, out.stderr
    assert MESSAGES[kind] in out.stderr and "Traceback" not in out.stderr
    assert not planted.exists() and not (tmp_path / "s.npy").exists()


@pytest.mark.parametrize("kind", SUBPROCESS_KINDS)
def test_train_py_resume_refuses_it_with_exit_2(kind, good_checkpoint, tmp_path):
    path, planted = bad_checkpoint(kind, good_checkpoint, tmp_path)
    out = run_cli("train.py", *TINY, f"ckpt_path={path}", f"hydra.run.dir={tmp_path / 'run'}")
    assert out.returncode == 2, out.stderr
    assert MESSAGES[kind] in out.stderr and "Traceback" not in out.stderr
    assert not planted.exists() and not (tmp_path / "run/checkpoints").exists()


def test_the_same_payload_would_run_without_weights_only(good_checkpoint, tmp_path):
    """The crafted file is a real threat: the unsafe load the project no longer does creates the file."""
    path, planted = bad_checkpoint("crafted", good_checkpoint, tmp_path)
    torch.load(path, map_location="cpu", weights_only=False)
    assert planted.exists()
