"""Where the project's config tree is, and which classes it can name.

The tree (conf/, and the sweeps under sweeps/) is code the user installed; a checkpoint or any other file a run
reads is data. So a config that came from a file (a checkpoint's stored run configuration) may only build what
the tree itself can name: every `_target_` (and `dataset_class`, which names a torchvision class to import) must
be one the tree's YAML files use. `wgangp.checkpoints` enforces it for train, sample and eval alike.

A user's own config directory (`--config-dir DIR` of src/eval.py, `config_dir=DIR` of src/sample.py, or
`trust_config_dir(DIR)` in a program) adds the names its YAML files use: a run of the user's own objective, net or
data set is then sampled and scored like one of ours.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path

import yaml

# The config tree ships inside the package (in a checkout, src/wgangp/conf links to the top-level conf/), so the
# installed wheel and its console scripts find it as the checkout does.
CONF_DIR = Path(__file__).resolve().parent / "conf"
_checkout = Path(__file__).resolve().parents[2]
# The checkout this module runs from, or None for an installed package.
REPO_ROOT: Path | None = (
    _checkout if (_checkout / "pyproject.toml").is_file() and (_checkout / "src").is_dir() else None
)
SWEEPS_DIR = REPO_ROOT / "sweeps" if REPO_ROOT is not None else CONF_DIR / "sweeps"  # the latter: none
# data/ and logs/ go under the checkout, or under the current directory for an installed package.
os.environ.setdefault("WGANGP_ROOT", str(REPO_ROOT or Path.cwd()))

# Keys whose string value names a class or function to import (hydra.utils.get_class / instantiate).
CLASS_KEYS = ("_target_", "dataset_class")


def _named(node: object) -> Iterator[tuple[str, str]]:
    """(key, value) of every CLASS_KEYS entry in a parsed YAML document or a plain config dict."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in CLASS_KEYS and isinstance(value, str):
                yield key, value
            else:
                yield from _named(value)
    elif isinstance(node, list):
        for item in node:
            yield from _named(item)


_user_dirs: list[Path] = []  # trust_config_dir's


def trust_config_dir(*folders: str | Path) -> None:
    """Trust the class names that the YAML files under each folder use (a user's own config directory)."""
    for folder in folders:
        folder = Path(folder).resolve()
        if folder not in _user_dirs:
            _user_dirs.append(folder)


@functools.cache
def _names_in(folder: Path) -> frozenset[str]:
    names: set[str] = set()
    for path in sorted(folder.rglob("*.yaml")) if folder.is_dir() else []:
        try:
            with open(path) as f:
                names.update(value for _, value in _named(yaml.safe_load(f)))
        except (OSError, yaml.YAMLError):
            continue  # an unreadable file trusts nothing
    return frozenset(names)


def trusted_names() -> frozenset[str]:
    """Every class or function the config tree and the trusted user folders name (values of `_target_` and
    `dataset_class`)."""
    return frozenset().union(*(_names_in(folder) for folder in (CONF_DIR, SWEEPS_DIR, *_user_dirs)))


def untrusted_names(config: object) -> list[str]:
    """`key=value` of every class name in `config` (a plain dict, e.g. a checkpoint's run configuration) that the
    config tree and the trusted user folders do not name, in order of appearance."""
    trusted = trusted_names()
    return [f"{key}={value}" for key, value in _named(config) if value not in trusted]
