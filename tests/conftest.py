"""Shared fixtures: compose conf/train.yaml exactly as `python src/train.py` does, on tiny settings."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

from wgangp.build import compose_config

REPO = Path(__file__).resolve().parents[1]
CONF_DIR = REPO / "conf"
os.environ.setdefault("WGANGP_ROOT", str(REPO))

# Small nets so a generator iteration takes milliseconds; every test run uses these.
TINY = [
    "debug=fast",
    "model.generator.width=32",
    "model.critic.width=32",
    "callbacks.progress.refresh_rate=0",
]

if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    # one xdist worker per core: one thread each, here and in the subprocesses the tests start
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
else:
    torch.set_num_threads(min(2, torch.get_num_threads()))


# Tiny labelled runs on the bundled 8x8 digits at 28x28 (no download): conditional models and their sampling.
DIGITS = [
    *(o for o in TINY if not o.startswith("model.")),  # TINY's model.* shrink the toy MLPs
    "data=digits",
    "data.image_size=28",
    "model.generator.base_filters=4",
    "model.critic.base_filters=4",
    "model.generator.latent_dim=16",
    "evaluators.quality=null",
    "evaluators.critic_validation=null",
]


def conf_options(group: str) -> list[str]:
    """Every option of conf/<group>/, so a new YAML file is tested without editing a list."""
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def objective_class(name: str) -> type:
    """The class `objective=name` builds (its composed `_target_`)."""
    from hydra.utils import get_class

    return get_class(compose_config("unused", [f"objective={name}"]).objective._target_)


def unconditional_objectives() -> list[str]:
    """The objective options that train any generator/critic pair on unlabelled data: not those that
    need labels (AC-GAN) or carry latent codes in z (InfoGAN), whose own tests build their nets."""
    from wgangp.nets.conditional import needs_labels

    def plain(cls: type) -> bool:
        return not (needs_labels(cls) or getattr(cls, "uses_latent_codes", False))

    return [name for name in conf_options("objective") if plain(objective_class(name))]


@pytest.fixture(autouse=True)
def _no_wandb_run_left_open():
    """A test that trains with logger=wandb leaves its run open in this process (a real run's process would
    end); finish it, so a later test's WandbLogger starts its own run instead of reusing that one."""
    yield
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish()


@pytest.fixture(scope="module")
def toy_ckpt(tmp_path_factory):
    """A finished 2-iteration toy run's last.ckpt (TINY settings), one per test module."""
    run = tmp_path_factory.mktemp("toy") / "run"
    from wgangp.train import train

    train(compose_config(run, [*TINY, "generator_iters=2"]))
    return run / "checkpoints/last.ckpt"


@pytest.fixture
def tiny_config(tmp_path):
    """compose(*overrides, run_dir=None) -> DictConfig on TINY settings, run directory under tmp_path."""

    def _compose(*overrides: str, run_dir: Path | None = None) -> DictConfig:
        return compose_config(run_dir or tmp_path / "run", [*TINY, *overrides])

    return _compose


def run_cli(script: str, *args: str, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python src/<script> args...` from the repository root, as a user would."""
    return subprocess.run(
        [sys.executable, str(REPO / "src" / script), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def spawn_train(run_dir: Path, *overrides: str) -> subprocess.Popen:
    """`python src/train.py` on TINY settings in run_dir, in the background (for kill and lock tests)."""
    args = [sys.executable, str(REPO / "src/train.py"), *TINY, f"hydra.run.dir={run_dir}", *overrides]
    return subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Wait until `path` exists while `proc` keeps running (its stderr is the failure message otherwise)."""
    deadline = time.time() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.time() < deadline
        time.sleep(0.05)


def trust_targets(folder: Path, *targets: str) -> Path:
    """A user config directory naming `targets` (a test's own classes), trusted as src/eval.py --config-dir trusts
    one: checkpoints whose stored config names them may then be rebuilt (wgangp.config_tree). Returns the folder."""
    from wgangp.config_tree import trust_config_dir

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "targets.yaml").write_text("".join(f"- _target_: {t}\n" for t in targets))
    trust_config_dir(folder)
    return folder


def set_up(datamodule):
    """prepare_data() and setup(), as wgangp.build.build and Lightning's fit call them; returns the module."""
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule
