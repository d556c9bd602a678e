"""Hostile arguments to sampling, through `python src/sample.py` and the Python API (wgangp.sample,
per_class_labels, traverse_codes): non-integer or out-of-range labels, a num_samples that disagrees with
labels=, counts and seeds the command line refuses, and outputs larger than the memory left (docs/failures.md)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import wgangp.sampling
from conftest import DIGITS, REPO, run_cli
from faults import assert_one_paragraph
from wgangp.build import compose_config
from wgangp.cli_sample import main as sample_main
from wgangp.errors import UserInputError
from wgangp.sampling import per_class_labels, sample, traverse_codes
from wgangp.train import train


@pytest.fixture(scope="module")
def cond_ckpt(tmp_path_factory):
    run = tmp_path_factory.mktemp("cond") / "run"
    train(compose_config(run, [*DIGITS, "model=dcgan_cond", "objective=dcgan", "generator_iters=1"]))
    return run / "checkpoints/last.ckpt"


def cli(capsys, *argv: str) -> subprocess.CompletedProcess:
    """src/sample.py's body in-process, as a CompletedProcess (exit code, stdout, stderr) for assert_one_paragraph."""
    capsys.readouterr()
    try:
        code = sample_main(list(argv))
    except SystemExit as e:
        code = e.code
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(argv, code, captured.out, captured.err)


@pytest.fixture
def memory_budget(monkeypatch):
    """Pretend only `free` bytes are available to this process."""

    def _set(free: float) -> None:
        monkeypatch.setattr(wgangp.sampling, "host_free_memory", lambda: (free, "a test budget"))

    monkeypatch.delenv("WGANGP_SKIP_MEMORY_CHECK", raising=False)
    return _set


# ---- 1. labels= on the command line ----------------------------------------------------------------------------
def test_cli_refuses_non_integer_labels_instead_of_truncating_them(cond_ckpt, tmp_path):
    out = run_cli("sample.py", f"ckpt_path={cond_ckpt}", "labels=[1.5,2.9]", f"out={tmp_path / 's.npy'}")
    assert_one_paragraph(out, 2, "labels=[1.5, 2.9] is invalid", "class labels must be integers", "1.5, 2.9 are not")
    assert not (tmp_path / "s.npy").exists() and out.stdout == ""


def test_cli_refuses_a_num_samples_that_disagrees_with_labels(cond_ckpt, tmp_path, capsys):
    out = cli(capsys, f"ckpt_path={cond_ckpt}", "num_samples=3", "labels=[1,2]", f"out={tmp_path / 's.npy'}")
    assert_one_paragraph(out, 2, "num_samples=3 and labels=[1, 2] disagree", "Drop num_samples=", "give 3 labels")
    assert not (tmp_path / "s.npy").exists() and out.stdout == ""


def test_cli_count_is_the_number_of_labels_unless_num_samples_agrees(cond_ckpt, tmp_path, capsys):
    expected = sample(cond_ckpt, 3, seed=4, labels=torch.tensor([1, 2, 2]))
    for i, argv in enumerate(
        [
            ["labels=[1,2,2]"],  # num_samples not given: len(labels), whatever its default is
            ["num_samples=3", "labels=[1,2,2]"],  # given and agreeing
            ["labels=[1.0,2.0,2]"],  # whole numbers written as floats are the same classes
        ]
    ):
        out = cli(capsys, f"ckpt_path={cond_ckpt}", "seed=4", *argv, f"out={tmp_path / f'{i}.npy'}")
        assert out.returncode == 0, out.stderr
        assert "wrote 3 samples of shape (1, 28, 28)" in out.stdout
        np.testing.assert_array_equal(np.load(tmp_path / f"{i}.npy"), expected.numpy())


@pytest.mark.parametrize(
    ("labels", "fragments"),
    [
        ("[1,10]", ["labels=[1, 10] is invalid", "one class in 0..9", "10 is outside that range", "classes in 0..9"]),
        ("[12,0,11]", ["11, 12 are outside that range"]),
        ("[-1]", ["labels=[-1] is invalid: it must be a list of one or more finite numbers >= 0"]),
    ],
)
def test_cli_refuses_labels_outside_the_classes_naming_the_range(cond_ckpt, tmp_path, capsys, labels, fragments):
    out = cli(capsys, f"ckpt_path={cond_ckpt}", f"labels={labels}", f"out={tmp_path / 's.npy'}")
    assert_one_paragraph(out, 2, *fragments)
    assert not (tmp_path / "s.npy").exists()


def test_api_labels_are_whole_classes_one_per_sample(cond_ckpt):
    x = sample(cond_ckpt, 3, seed=1, labels=torch.tensor([0, 9, 4]))
    for same in ([0, 9, 4], np.array([0, 9, 4]), torch.tensor([0.0, 9.0, 4.0])):  # any integer-valued container
        assert torch.equal(sample(cond_ckpt, 3, seed=1, labels=same), x)
    with pytest.raises(UserInputError, match=r"labels=\[0, 1.5\] is invalid: class labels must be integers.*1.5 is"):
        sample(cond_ckpt, 2, labels=torch.tensor([0.0, 1.5]))
    with pytest.raises(UserInputError, match=r"class labels must be integers.*nan"):
        sample(cond_ckpt, 1, labels=[float("nan")])
    with pytest.raises(UserInputError, match="class labels must be integers, got torch.bool"):
        sample(cond_ckpt, 2, labels=torch.tensor([True, False]))
    with pytest.raises(UserInputError, match=r"labels=\[\] is invalid"):
        sample(cond_ckpt, 1, labels=[])
    with pytest.raises(UserInputError, match=r"num_samples=3 and labels=\[1, 2\] disagree.*pass num_samples=2"):
        sample(cond_ckpt, 3, labels=[1, 2])
    with pytest.raises(UserInputError, match="4611686018427387904 is outside that range"):
        sample(cond_ckpt, 1, labels=[1e20])  # whole but huge: out of range, not wrapped round into a class


# ---- 2. the API refuses what the command line refuses, in the same words ------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_samples": 0}, "num_samples=0 is invalid: it must be an integer >= 1"),
        ({"num_samples": -3}, "num_samples=-3 is invalid: it must be an integer >= 1"),
        ({"num_samples": 2.5}, "num_samples=2.5 is invalid: it must be an integer >= 1"),
        ({"num_samples": "4"}, "num_samples='4' is invalid: it must be an integer >= 1"),
        ({"num_samples": 4, "seed": -1}, "seed=-1 is invalid: it must be an integer in [0, 4294967295]"),
        ({"num_samples": 4, "seed": 1.5}, "seed=1.5 is invalid: it must be an integer in [0, 4294967295]"),
        ({"num_samples": 4, "seed": 2**32}, "seed=4294967296 is invalid: it must be an integer in [0, 4294967295]"),
        ({"num_samples": 4, "seed": True}, "seed=True is invalid"),
        ({"num_samples": 4, "batch_size": 0}, "batch_size=0 is invalid: it must be an integer >= 1"),
    ],
)
def test_api_refuses_counts_and_seeds_before_loading_anything(tmp_path, kwargs, message):
    # the checkpoint does not exist: the argument is refused first, so nothing was read or generated
    with pytest.raises(UserInputError) as err:
        sample(tmp_path / "none.ckpt", **kwargs)
    assert str(err.value).startswith(message) and "Fix the argument of wgangp.sample" in str(err.value)


@pytest.mark.parametrize(("field", "value"), [("num_samples", "0"), ("seed", "-1"), ("seed", "1.5")])
def test_api_and_cli_use_the_same_words(toy_ckpt, tmp_path, capsys, field, value):
    out = cli(capsys, f"ckpt_path={toy_ckpt}", f"{field}={value}", f"out={tmp_path / 's.npy'}")
    cli_line = assert_one_paragraph(out, 2, f"{field}={value} is invalid: it must be")
    kwargs = {"num_samples": 4, field: float(value) if "." in value else int(value)}
    with pytest.raises(UserInputError) as err:
        sample(toy_ckpt, **kwargs)
    words = str(err.value).split(". Fix")[0]
    assert words in cli_line


def test_api_accepts_integral_numbers_of_any_type_as_the_same_arguments(toy_ckpt):
    x = sample(toy_ckpt, 5, seed=3)
    assert x.shape == (5, 2) and torch.isfinite(x).all()
    assert torch.equal(sample(toy_ckpt, 5.0, seed=torch.tensor(3)), x)
    assert torch.equal(sample(toy_ckpt, np.int64(5), seed=np.uint32(3)), x)
    assert not torch.equal(sample(toy_ckpt, 5, seed=4), x)
    assert sample(toy_ckpt, 1).shape == (1, 2)
    # the output is filled in place batch by batch (1000 at a time): every row written, the first batch as alone
    many = sample(toy_ckpt, 2500, seed=3)
    assert many.shape == (2500, 2) and torch.isfinite(many).all() and torch.equal(many, sample(toy_ckpt, 2500, seed=3))
    assert torch.equal(many[:1000], sample(toy_ckpt, 1000, seed=3)) and len(many.unique(dim=0)) == 2500


def test_non_conditional_checkpoint_refuses_labels(toy_ckpt):
    with pytest.raises(UserInputError, match=r"MLPGenerator\) is not class-conditional"):
        sample(toy_ckpt, 1, labels=[0])


def test_per_class_labels_checks_its_count(cond_ckpt, tmp_path):
    labels = per_class_labels(cond_ckpt, 2)
    assert torch.equal(labels, torch.arange(10).repeat_interleave(2))
    assert torch.equal(per_class_labels(cond_ckpt, 2.0), labels)
    for bad in (0, -1, 1.5):
        with pytest.raises(UserInputError, match=rf"^per_class={bad} is invalid: it must be an integer >= 1"):
            per_class_labels(tmp_path / "none.ckpt", bad)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"columns": 0}, "columns=0 is invalid: it must be an integer >= 1"),
        ({"columns": 2.5}, "columns=2.5 is invalid: it must be an integer >= 1"),
        ({"span": 0}, "span=0 is invalid: it must be a finite number > 0"),
        ({"span": float("inf")}, "span=inf is invalid: it must be a finite number > 0"),
        ({"seed": -1}, "seed=-1 is invalid: it must be an integer in [0, 4294967295]"),
        ({"continuous": -1}, "continuous=-1 is invalid: it must be an integer >= 0"),
    ],
)
def test_traverse_codes_checks_its_arguments_before_loading(tmp_path, kwargs, message):
    with pytest.raises(UserInputError) as err:
        traverse_codes(tmp_path / "none.ckpt", **kwargs)
    assert str(err.value).startswith(message) and "traverse_codes" in str(err.value)


# ---- 3. an output larger than the memory left ----------------------------------------------------------------------
def test_cli_refuses_an_output_larger_than_memory_before_generating(toy_ckpt, tmp_path, capsys):
    # 10**12 toy points are 8 TB: refused at once instead of allocating for minutes
    out = cli(capsys, f"ckpt_path={toy_ckpt}", "num_samples=1000000000000", f"out={tmp_path / 's.npy'}")
    line = assert_one_paragraph(
        out, 2, "num_samples=1000000000000 would hold about 8 TB", "samples fit", "different seed= value"
    )
    assert "MemAvailable in /proc/meminfo" in line or "RLIMIT_AS" in line
    assert not (tmp_path / "s.npy").exists() and out.stdout == ""


def test_api_refusal_names_a_count_that_does_fit(toy_ckpt, memory_budget, monkeypatch):
    memory_budget(1e6)  # toy points are 2 fp32 values: 8 bytes each
    with pytest.raises(UserInputError) as err:
        sample(toy_ckpt, 200_000)
    message = str(err.value)
    assert "num_samples=200000 would hold about 1.61 MB" in message and "(8 bytes each)" in message
    assert "only 1 MB is available (a test budget): about 99000 samples fit" in message  # 80%, less a batch
    assert "several smaller calls of at most 99000 samples" in message
    assert sample(toy_ckpt, 99_000).shape == (99_000, 2)  # the count it names does fit
    monkeypatch.setenv("WGANGP_SKIP_MEMORY_CHECK", "1")
    assert sample(toy_ckpt, 200_000).shape == (200_000, 2)  # the documented switch skips the check


def test_per_class_and_traversal_grids_are_checked_too(cond_ckpt, memory_budget):
    memory_budget(1e6)  # a 28x28 image is 3136 bytes, with its label 3144
    with pytest.raises(UserInputError, match=r"per_class=1000 \(10 classes, 10000 samples\).*per_class to at most 12"):
        per_class_labels(cond_ckpt, 1000)
    labels = per_class_labels(cond_ckpt, 12)  # the count it names fits, and so does sampling them
    assert sample(cond_ckpt, len(labels), labels=labels).shape == (120, 1, 28, 28)


def test_address_space_limit_is_respected(toy_ckpt, tmp_path):
    # a real RLIMIT_AS, set in a child process: about 1 GB above what it already maps, far below MemAvailable
    script = textwrap.dedent(
        f"""
        import resource, sys
        from wgangp.cli_sample import main
        status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
        used = int(status["VmSize"].split()[0]) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (used + 10**9, resource.getrlimit(resource.RLIMIT_AS)[1]))
        main(["ckpt_path={toy_ckpt}", "num_samples=300000000", "out={tmp_path / "s.npy"}"])
        """
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    line = assert_one_paragraph(out, 2, "num_samples=300000000 would hold about 2.4 GB", "RLIMIT_AS")
    fit = int(line.split("about ")[2].split(" samples fit")[0])
    assert 0 < fit < 10**9 * 0.8 / 8
    assert not (tmp_path / "s.npy").exists()
