"""Checkpoint files, read once and checked once: the layer every entry point (train's resume, sample, eval) loads
through.

A checkpoint is data. It is unpickled with weights_only=True (tensors and plain values only), and its stored run
configuration may only name classes that the project's config tree names (wgangp.config_tree): the configuration
is later instantiated, and Hydra's instantiate would otherwise run whatever `_target_` a crafted file picked.
Weights are checked against the nets they are loaded into (names, shapes, finiteness) before any is used.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from wgangp.config_tree import untrusted_names
from wgangp.errors import UserInputError

# Version of the checkpoint's layout. 2: Lightning's global_step counts generator iterations (1 counted
# every optimizer step of both players, so a format-1 checkpoint cannot be resumed exactly).
CHECKPOINT_FORMAT = 2

FIX = "pass a checkpoint a wgangp run wrote (<run dir>/checkpoints/last.ckpt or iter_NNNNNNN.ckpt)"


def load_checkpoint(ckpt_path: str | Path) -> dict:
    """torch.load a wgangp checkpoint on the CPU with weights_only=True, and check what it holds.

    Raises UserInputError naming the file, what is wrong with it (missing, unreadable, truncated or not a torch
    checkpoint, holding objects other than tensors and plain values, not written by wgangp, a stored run
    configuration without its nets or with interpolations) and what to pass instead. What a caller builds from the
    stored configuration it first passes through `check_buildable`.
    """
    path = Path(ckpt_path)
    if not path.is_file():
        raise UserInputError(f"checkpoint {path} does not exist or is not a file; {FIX}.")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # noqa: BLE001 - whatever torch.load makes of a file that is not a checkpoint
        raise _unreadable(path, e) from e
    info = ckpt.get("wgangp") if isinstance(ckpt, dict) else None
    lacking = [
        f"wgangp.{k}"
        for k in ("generator_iter", "data_shape", "run_config")
        if not isinstance(info, dict) or k not in info
    ] + ([] if isinstance(ckpt, dict) and isinstance(ckpt.get("state_dict"), Mapping) else ["state_dict"])
    if lacking:
        raise UserInputError(
            f"checkpoint {path} is a torch file but not a wgangp training checkpoint (it lacks "
            f"{', '.join(lacking)}); {FIX}."
        )
    check_run_config(info["run_config"], path)
    info["run_config"] = upgrade_run_config(info["run_config"])
    shape = info["data_shape"]
    if not (isinstance(shape, list) and shape and all(isinstance(s, int) and s > 0 for s in shape)):
        raise UserInputError(f"checkpoint {path} has a damaged wgangp.data_shape ({shape!r}); {FIX}.")
    return ckpt


# The image data modules of checkpoints written before wgangp.data.readers: one class per data set, with the same
# fields as the one ImageDataModule and its reader now take.
LEGACY_DATA_MODULES = {
    f"wgangp.data.images.{old}DataModule": f"wgangp.data.readers.{reader}Reader"
    for old, reader in (("MNIST", "MNIST"), ("CIFAR10", "CIFAR10"), ("LSUN", "LSUN"), ("ImageNet32", "ImageNet32"),
                        ("ImageFolder", "ImageFolder"), ("Digits", "Digits"))
}  # fmt: skip


def upgrade_run_config(run_config: dict) -> dict:
    """The stored run config of an older checkpoint as this version writes it, so resume, sample and eval read one
    layout: a legacy image data module becomes ImageDataModule with its reader (the same fields, so the same
    images). Objective fields added since are filled by wgangp.resume.ADDED_FIELDS where runs are compared, and by
    the constructors' defaults where the objective is built."""
    data = run_config.get("data")
    if isinstance(data, dict) and data.get("_target_") in LEGACY_DATA_MODULES:
        reader = {"_target_": LEGACY_DATA_MODULES[data["_target_"]], "_partial_": True}
        run_config = {
            **run_config,
            "data": {**data, "_target_": "wgangp.data.images.ImageDataModule", "reader": reader},
        }
    return run_config


def _unreadable(path: Path, e: Exception) -> UserInputError:
    if isinstance(e, pickle.UnpicklingError) and "weights_only" in str(e):
        return UserInputError(
            f"checkpoint {path} holds objects other than tensors and plain values ({_unsafe_global(e)}), "
            "which could run code while being unpickled, so it was not loaded (weights_only=True). Checkpoints "
            f"written by wgangp hold tensors and plain values only; {FIX}, and load files from others only if "
            "you trust them."
        )
    if isinstance(e, PermissionError):
        return UserInputError(f"checkpoint {path} cannot be read ({e.strerror}); fix its permissions or {FIX}.")
    size = path.stat().st_size
    what = (
        "it is empty (0 bytes)"
        if size == 0
        else f"it is truncated or not a checkpoint at all ({size} bytes that are not the complete zip archive "
        "torch.save writes)"
        if not zipfile.is_zipfile(path)
        else f"its contents are damaged ({type(e).__name__}: {_first_line(e)})"
    )
    return UserInputError(
        f"checkpoint {path} is not a readable torch checkpoint: {what}; {FIX}, e.g. an earlier "
        "iter_NNNNNNN.ckpt of the same run, or copy the file again if a copy or download stopped early."
    )


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else "no message"


def _unsafe_global(e: pickle.UnpicklingError) -> str:
    """The global the weights_only unpickler refused, as torch's message names it (e.g. `posix.system`)."""
    match = re.search(r"GLOBAL ([\w.]+)", str(e)) or re.search(r"Unsupported global: ([\w.]+)", str(e))
    return f"e.g. {match.group(1)}" if match else _first_line(e)


PLAIN = (str, int, float, bool, type(None))


def _foreign_values(node: Any, prefix: str = "") -> list[str]:
    """Dotted keys of values a stored run configuration never holds: wgangp writes OmegaConf's plain containers
    (dicts with string keys, lists) of strings, numbers and booleans. A tuple, set, bytes or tensor would pass
    weights_only unpickling, and Hydra would build what a tuple nests."""
    if isinstance(node, dict):
        bad = [f"{prefix}{key!r}" for key in node if not isinstance(key, str)]
        return bad + [
            k for key, v in node.items() if isinstance(key, str) for k in _foreign_values(v, f"{prefix}{key}.")
        ]
    if isinstance(node, list):
        return [k for i, v in enumerate(node) for k in _foreign_values(v, f"{prefix}{i}.")]
    return [] if isinstance(node, PLAIN) else [f"{prefix.rstrip('.')} ({type(node).__name__})"]


def _interpolations(node: Any, prefix: str = "") -> list[str]:
    """Dotted keys of strings holding `${...}`: a stored run configuration is resolved, so none is ours."""
    if isinstance(node, dict):
        return [k for key, v in node.items() for k in _interpolations(v, f"{prefix}{key}.")]
    if isinstance(node, list):
        return [k for i, v in enumerate(node) for k in _interpolations(v, f"{prefix}{i}.")]
    return [prefix.rstrip(".")] if isinstance(node, str) and "${" in node else []


def check_run_config(run_config: Any, path: Path) -> None:
    """Refuse a stored run configuration without its generator's config, or holding an interpolation (resolvers
    read the environment and more; wgangp stores the resolved configuration)."""
    model = run_config.get("model") if isinstance(run_config, dict) else None
    generator = model.get("generator") if isinstance(model, dict) else None
    if not isinstance(generator, dict) or not isinstance(generator.get("_target_"), str):
        raise UserInputError(
            f"checkpoint {path} has no usable run configuration (wgangp.run_config.model.generator._target_ is "
            f"missing), so its nets cannot be rebuilt; {FIX}."
        )
    foreign = _foreign_values(run_config)
    if foreign:
        raise UserInputError(
            f"checkpoint {path} holds values in its run configuration that wgangp never writes "
            f"({', '.join(foreign[:3])}: only dicts, lists, strings, numbers and booleans), so it was not loaded; "
            f"{FIX}."
        )
    interpolated = _interpolations(run_config)
    if interpolated:
        raise UserInputError(
            f"checkpoint {path} holds unresolved interpolations in its run configuration "
            f"({', '.join(interpolated[:3])}), which wgangp never writes (it stores the resolved configuration), "
            f"so it was not loaded; {FIX}."
        )


def check_buildable(config: Any, path: str | Path) -> None:
    """Refuse to build from `config` (a part of a checkpoint's stored run configuration) when it names a class or
    function that neither the project's config tree nor a trusted user config directory names: building it could
    run any code (Hydra's instantiate imports and calls whatever `_target_` says)."""
    foreign = untrusted_names(config)
    if foreign:
        raise UserInputError(
            f"checkpoint {path} names classes or functions that wgangp's config tree does not "
            f"({', '.join(foreign[:3])}{' ...' if len(foreign) > 3 else ''}), and building them could run any code, "
            "so it was not loaded. A checkpoint's configuration may only name the project's own targets (those in "
            "its conf/ YAML files) and those of a config directory you trust (src/eval.py --config-dir DIR, "
            f"src/sample.py config_dir=DIR, wgangp.config_tree.trust_config_dir(DIR)); {FIX}, and load files from "
            "others only if you trust them."
        )


def check_format(info: dict, ckpt_path: str | Path) -> None:
    """Refuse to resume a checkpoint of an older layout (CHECKPOINT_FORMAT): before format 2, Lightning's
    global_step counted every optimizer step, so the run would not continue exactly."""
    found = info.get("format", 1)
    if found != CHECKPOINT_FORMAT:
        raise UserInputError(
            f"ckpt_path={ckpt_path} has checkpoint format {found}, and this version of wgangp resumes only format "
            f"{CHECKPOINT_FORMAT} (format 1 counted Lightning's global_step in optimizer steps of both players, "
            "so its run cannot continue exactly). Its generator still samples (src/sample.py); "
            "to train further, start a new run without ckpt_path."
        )


def check_weights(stored: Mapping[str, Any], expected: Mapping[str, torch.Tensor], path: str | Path, what: str) -> None:
    """Refuse stored weights that do not fit the nets built from the run's configuration (missing or extra names,
    other shapes) or that are not finite (a diverged or edited file): a UserInputError naming the first few."""
    missing = [k for k in expected if k not in stored]
    extra = [k for k in stored if k not in expected]
    wrong = [
        f"{k} {tuple(stored[k].shape) if torch.is_tensor(stored[k]) else type(stored[k]).__name__} "
        f"(the net has {tuple(v.shape)})"
        for k, v in expected.items()
        if k in stored and (not torch.is_tensor(stored[k]) or stored[k].shape != v.shape)
    ]
    problems = (
        ([f"missing {', '.join(missing[:3])}"] if missing else [])
        + ([f"unexpected {', '.join(extra[:3])}"] if extra else [])
        + ([f"wrong shape: {'; '.join(wrong[:3])}"] if wrong else [])
    )
    if problems:
        raise UserInputError(
            f"checkpoint {path}'s {what} weights do not fit the nets its stored configuration builds "
            f"({'; '.join(problems)}): the file was edited or written by another version of the model; {FIX}."
        )
    bad = [k for k, v in stored.items() if torch.is_tensor(v) and v.is_floating_point() and not v.isfinite().all()]
    if bad:
        raise UserInputError(
            f"checkpoint {path} holds non-finite (NaN or inf) {what} weights ({', '.join(bad[:3])}), so it would "
            "generate NaN: the run diverged before it was saved or the file was damaged. Use an earlier "
            "iter_NNNNNNN.ckpt of the run."
        )
