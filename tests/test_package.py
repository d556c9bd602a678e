"""wgangp as users install and start it: the wheel in a fresh environment, the console scripts from a folder outside
the checkout, a user's own config directory, and the design card's command on CIFAR-10 files.

The wheel and card tests are `slow` (a wheel build, a virtual environment, the full-width ResNet on the CPU);
`make test-package` runs them, and CI runs that after `make test`.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, TINY, run_cli
from faults import assert_one_paragraph
from wgangp.build import compose_config
from wgangp.data.writers import labelled_images, write_cifar10

EXAMPLES = REPO / "docs" / "examples"
USER_CONFIG, USER_CODE = EXAMPLES / "user_config", EXAMPLES / "user_code"
# Variables of this checkout that a user's fresh shell does not have.
CHECKOUT_ENV = ("WGANGP_ROOT", "WGANGP_LOG_DIR", "WGANGP_DATA_DIR", "PYTHONPATH")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CHECKOUT_ENV}
    return {**env, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled", **extra}


def assert_quiet(out: subprocess.CompletedProcess) -> None:
    """Exit 0 and a stderr without warnings, tracebacks or third-party advertisements."""
    assert out.returncode == 0, out.stderr[-3000:]
    for noise in ("Traceback", "Warning", "warn(", "Tip:", "deprecated"):
        assert noise not in out.stderr, out.stderr[-3000:]


# ---- a user's own config directory, from the checkout (fast) ------------------------------------------------------
def test_a_user_objective_trains_samples_and_scores_from_its_own_config_directory(tmp_path):
    env = {"PYTHONPATH": os.pathsep.join([str(USER_CODE), os.environ.get("PYTHONPATH", "")])}
    run = tmp_path / "run"
    out = run_cli(
        "train.py", "--config-dir", str(USER_CONFIG), "experiment=margin_hinge_toy", *TINY,
        "generator_iters=3", f"hydra.run.dir={run}", env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "_target_: my_gan.margin_hinge.MarginHinge" in (run / ".hydra/config.yaml").read_text()
    assert "margin: 0.5" in (run / ".hydra/config.yaml").read_text()
    ckpt = run / "checkpoints/last.ckpt"
    out = run_cli("sample.py", f"ckpt_path={ckpt}", "num_samples=8", f"out={tmp_path / 's.npy'}", env=env)
    assert out.returncode == 0 and np.load(tmp_path / "s.npy").shape == (8, 2), out.stderr[-2000:]
    # eval.py rebuilds the objective from the checkpoint: the user's class is trusted only with its directory
    out = run_cli("eval.py", f"ckpt_path={ckpt}", "w1_points=100", f"out={tmp_path / 'e.json'}", env=env)
    assert_one_paragraph(out, 2, "_target_=my_gan.margin_hinge.MarginHinge", "--config-dir")
    out = run_cli(
        "eval.py", "--config-dir", str(USER_CONFIG), f"ckpt_path={ckpt}", "w1_points=100",
        f"out={tmp_path / 'e.json'}", env=env,
    )  # fmt: skip
    assert out.returncode == 0 and (tmp_path / "e.json").is_file(), out.stderr[-2000:]


def test_the_users_objective_evaluator_and_data_set_train_together_through_the_cli(tmp_path):
    env = {"PYTHONPATH": os.pathsep.join([str(USER_CODE), os.environ.get("PYTHONPATH", "")])}
    run = tmp_path / "run"
    out = run_cli(
        "train.py", "--config-dir", str(USER_CONFIG), "objective=margin_hinge", "data=rings", *TINY,
        "generator_iters=4", "evaluators.diversity.every_n_iters=2", "evaluators.diversity.num_samples=32",
        f"hydra.run.dir={run}", env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    with open(run / "metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("val/diversity")]
    assert [int(r["step"]) for r in rows] == [2, 4] and all(float(r["val/diversity"]) > 0 for r in rows)
    assert all(r["val/w1"] for r in rows if int(r["step"]) == 4)  # wgangp's own evaluator beside the user's
    config = (run / ".hydra/config.yaml").read_text()
    assert "my_gan.rings.Rings" in config and "my_gan.diversity.Diversity" in config


def test_the_architecture_page_shows_the_worked_examples_as_they_are():
    page = (REPO / "docs/architecture.md").read_text()
    for path in (USER_CODE / "my_gan/diversity.py", USER_CONFIG / "evaluator/diversity.yaml"):
        fence = "python" if path.suffix == ".py" else "yaml"
        assert f"`{path.relative_to(REPO)}`:\n\n```{fence}\n{path.read_text()}```" in page, path


def test_models_bring_the_data_they_were_built_for_and_data_wins(tmp_path):
    def kind(overrides):  # the image data's reader, or the data module of other data
        data = compose_config(tmp_path, overrides).data
        return data.get("reader", data)._target_.rsplit(".", 1)[-1]

    data = {
        option: kind([f"model={option}"])
        for option in ("resnet", "resnet_acgan", "resnet_cond", "lsun_tanh", "resnet101", "charcnn")
    }
    assert data == {
        "resnet": "CIFAR10Reader",
        "resnet_acgan": "CIFAR10Reader",
        "resnet_cond": "CIFAR10Reader",
        "lsun_tanh": "LSUNReader",
        "resnet101": "LSUNReader",
        "charcnn": "TextDataModule",
    }
    assert compose_config(tmp_path, ["model=dcgan"]).data == compose_config(tmp_path, []).data  # no preference
    assert kind(["model=resnet", "data=digits"]) == "DigitsReader"
    assert kind(["experiment=cifar10_resnet_cpu"]) == "MNISTReader"  # resnet on fashion_mnist


def test_make_trains_command_is_quiet_from_a_fresh_clone_with_the_default_run_directory(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=300)
    out = subprocess.run(
        [sys.executable, "src/train.py", "experiment=toy", "generator_iters=5"],  # `make train`'s, shorter
        cwd=clone, capture_output=True, text=True, timeout=600, env=clean_env(),
    )  # fmt: skip
    assert_quiet(out)
    (run,) = (clone / "logs/train/toy-wgan_gp-8gaussians").iterdir()  # the default run directory, in the clone
    assert (run / "checkpoints/last.ckpt").is_file() and (run / ".run.lock").is_file()


def test_the_card_command_offline_names_data_root_and_the_files(tmp_path):
    out = run_cli(
        "train.py", "objective=wgan_gp", "model=resnet", f"data.root={tmp_path / 'none'}", "data.download=false",
        f"hydra.run.dir={tmp_path / 'run'}",
    )  # fmt: skip
    assert_one_paragraph(out, 2, "CIFAR-10 files are missing under", "data_batch_1", "test_batch", "data.root=")


# ---- the card's exact command, and the wheel (slow) ----------------------------------------------------------------
@pytest.mark.slow
def test_the_card_command_trains_the_papers_resnet_on_cifar10_files(tmp_path):
    root = tmp_path / "cifar"
    write_cifar10(root, [labelled_images(16, 32, 32, 3, seed=i) for i in range(5)], labelled_images(8, 32, 32, 3))
    out = subprocess.run(
        [sys.executable, str(REPO / "src/train.py"), "objective=wgan_gp", "model=resnet", f"data.root={root}",
         "generator_iters=2"],
        cwd=tmp_path, capture_output=True, text=True, timeout=900, env=clean_env(WGANGP_LOG_DIR=str(tmp_path / "logs")),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    (run,) = (tmp_path / "logs/train/wgan_gp-resnet-cifar10").iterdir()
    config = (run / ".hydra/config.yaml").read_text()
    assert "wgangp.data.readers.CIFAR10Reader" in config and "wgangp.nets.resnet.ResNetGenerator" in config
    assert "channels: 128" in config  # App. F's width, not a CPU preset
    assert (run / "checkpoints/last.ckpt").is_file()


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtual environment holding the wheel built from this checkout; its dependencies are the ones this
    test session runs on (a .pth file adds their site-packages after the environment's own)."""
    base = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(base / "dist"),
         str(REPO)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    (wheel,) = (base / "dist").glob("wgangp-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    Path(site, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    return venv / "bin"


@pytest.mark.slow
def test_the_wheel_trains_samples_and_runs_a_user_objective_outside_the_checkout(installed, tmp_path):
    work = tmp_path / "empty"
    work.mkdir()

    def run(*args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(installed / args[0]), *args[1:]], cwd=work, capture_output=True, text=True, timeout=600,
            env=clean_env(**env),
        )  # fmt: skip

    where = run("python", "-c", "import wgangp.config_tree as t; print(t.__file__, t.CONF_DIR.is_dir(), t.REPO_ROOT)")
    module, has_conf, checkout = where.stdout.split()
    assert module.startswith(str(installed.parent)) and has_conf == "True" and checkout == "None"  # the wheel's
    out = run("wgangp-train", "experiment=toy", "generator_iters=5")
    assert_quiet(out)
    (ckpt,) = (work / "logs/train/toy-wgan_gp-8gaussians").glob("*/checkpoints/last.ckpt")  # under the cwd
    out = run("wgangp-sample", f"ckpt_path={ckpt}", "num_samples=16", "out=samples.npy")
    assert out.returncode == 0 and np.load(work / "samples.npy").shape == (16, 2), out.stderr[-2000:]
    out = run("wgangp-eval", f"ckpt_path={ckpt}", "w1_points=100", "out=eval.json")
    assert out.returncode == 0 and (work / "eval.json").is_file(), out.stderr[-2000:]
    out = run(
        "wgangp-train", "--config-dir", str(USER_CONFIG), "experiment=margin_hinge_toy", "generator_iters=3",
        PYTHONPATH=str(USER_CODE),
    )  # fmt: skip
    assert_quiet(out)
    assert list((work / "logs/train/margin_hinge_toy").glob("*/checkpoints/last.ckpt"))
