"""Every entry point ends a user error with one paragraph on stderr and a documented exit code: src/sample.py,
src/eval.py, scripts/*.py, and the messages that used to mislead."""

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, TINY, run_cli
from faults import assert_one_paragraph, run_main
from wgangp.cli_sample import main as sample_main
from wgangp.errors import OutputWriteError
from wgangp.plots import save_curve


def sample_cli(capsys, *argv: str):
    """src/sample.py's main in this process (tests/faults.run_main)."""
    return run_main(sample_main, list(argv), capsys)


@pytest.mark.parametrize("n", ["0", "-5", "2.5"])
def test_sample_refuses_a_count_that_is_not_positive(toy_ckpt, tmp_path, n, capsys):
    out = sample_cli(capsys, f"ckpt_path={toy_ckpt}", f"num_samples={n}", f"out={tmp_path / 's.npy'}")
    assert_one_paragraph(out, 2, f"num_samples={n} is invalid: it must be an integer >= 1")
    assert not (tmp_path / "s.npy").exists() and out.stdout == ""


def test_sample_path_errors_go_to_stderr(toy_ckpt, tmp_path, capsys):
    out = sample_cli(capsys, f"ckpt_path={tmp_path / 'missing.ckpt'}")
    assert_one_paragraph(out, 2, "missing.ckpt does not exist")
    out = sample_cli(capsys, f"ckpt_path={toy_ckpt.parent}")
    assert_one_paragraph(out, 2, "is a folder, not a checkpoint file", "last.ckpt")
    out = sample_cli(capsys, f"ckpt_path={toy_ckpt}", "num_sample=3")
    assert_one_paragraph(out, 2, "num_sample", "usage: python src/sample.py")
    out = sample_cli(capsys, f"ckpt_path={toy_ckpt}", f"out={tmp_path / 's.jpg'}")
    assert_one_paragraph(out, 2, "use .npy or .pt, or .png")


def test_a_full_disk_while_writing_samples_or_a_plot(toy_ckpt, capsys):
    out = sample_cli(capsys, f"ckpt_path={toy_ckpt}", "num_samples=8", "out=/dev/full")
    assert out.returncode != 0  # /dev/full has no suffix: refused before writing
    out = sample_cli(capsys, f"ckpt_path={toy_ckpt}", "num_samples=8", "out=/dev/full/s.npy")
    assert_one_paragraph(out, 4, "could not write the samples file /dev/full/s.npy", "choose a writable location")
    with pytest.raises(OutputWriteError, match=r"could not write the plot /dev/full \(No space left on device\)"):
        save_curve(Path("/dev/full"), [1, 2], [1.0, 2.0], "w")  # a full disk
    with pytest.raises(OutputWriteError, match=r"could not write the plot /proc/version/w\.png .*not a folder"):
        save_curve(Path("/proc/version/w.png"), [1, 2], [1.0, 2.0], "w")


def test_eval_without_or_with_a_missing_checkpoint(tmp_path):
    assert_one_paragraph(run_cli("eval.py"), 2, "ckpt_path is not set", "ckpt_path=...")
    assert_one_paragraph(run_cli("eval.py", f"ckpt_path={tmp_path / 'no.ckpt'}"), 2, "no.ckpt does not exist")


def _script(name, *args):
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / name), *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_scripts_share_the_boundary(tmp_path):
    assert_one_paragraph(_script("table2.py", str(tmp_path / "none")), 2, "is not a directory")
    assert_one_paragraph(_script("offline_mnist.py", str(tmp_path / "no.csv"), str(tmp_path)), 2, "is not a file")
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("1,2,3\n")
    assert_one_paragraph(_script("offline_mnist.py", str(bad_csv), str(tmp_path)), 2, "expected 785 per row")
    assert_one_paragraph(_script("sweep_cost.py", "--batch", "0"), 2, "--batch=0")
    assert_one_paragraph(_script("bench_data.py", "--steps", "0"), 2, "--steps=0")
    src = tmp_path / "in.txt"
    src.write_text("some prose\n")
    assert_one_paragraph(
        _script("prepare_text.py", str(src), "/dev/full/out.txt"), 4, "could not write the text file /dev/full/out.txt"
    )


def test_an_image_model_on_points_names_the_data_option(tmp_path):
    out = run_cli(
        "train.py", "objective=wgan_gp", "model=resnet", "data=8gaussians", "debug=fast", f"hydra.run.dir={tmp_path}"
    )
    assert_one_paragraph(out, 2, "got data_shape=(2,)", "data=cifar10", "experiment=cifar10_resnet", "model=toy_mlp")


def test_nan_at_the_first_iteration_does_not_point_at_a_missing_checkpoint(tmp_path):
    out = run_cli("train.py", *TINY, "objective.optimizer.lr=1e30", f"hydra.run.dir={tmp_path}")
    message = assert_one_paragraph(out, 3, "at generator iteration 1", "none had been written yet")
    assert "last.ckpt" not in message and not (tmp_path / "checkpoints/last.ckpt").exists()
