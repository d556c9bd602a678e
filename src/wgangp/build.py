"""Compose a config and instantiate what it names: the data module, both nets and the objective.

cfg = compose_config(Path("logs/try"), ["experiment=toy"])
datamodule, objective = build(cfg)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import lightning as L
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from torch import nn

from wgangp.config_tree import CONF_DIR
from wgangp.errors import UserInputError
from wgangp.nets.conditional import needs_labels
from wgangp.nets.random_arch import app_b_weight_decay
from wgangp.objectives import schema  # noqa: F401 - stores the objective schema that conf/objective/ extends

# App. B's weight decay, which depends on the sampled architecture (sweeps/random_archs.yaml).
if not OmegaConf.has_resolver("wgangp.app_b_weight_decay"):
    OmegaConf.register_new_resolver("wgangp.app_b_weight_decay", app_b_weight_decay)


def compose_config(output_dir: Path, overrides: Sequence[str] = ()) -> DictConfig:
    """The config `python src/train.py <overrides>` would run, with its run directory at output_dir
    (Hydra's compose API; for tests, benchmarks and notebooks)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[*overrides, f"paths.output_dir={output_dir}"], return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def build(cfg: DictConfig) -> tuple[L.LightningDataModule, L.LightningModule]:
    """Instantiate the data module (fetched and loaded, so unusable files stop here), both nets and the
    objective from a composed config."""
    datamodule = instantiate(cfg.data)
    classes = class_arguments(cfg, datamodule)  # before any file is read: unlabelled data stops here
    datamodule.prepare_data()
    datamodule.setup("fit")
    generator = build_generator(cfg.model.generator, datamodule.data_shape, classes["generator"].get("num_classes"))
    # Sec. 4: a critic with a batch norm swaps it for layer norm when the objective penalises its gradient.
    uses_penalty = get_class(cfg.objective._target_).uses_gradient_penalty
    critic = instantiate(
        cfg.model.critic, data_shape=datamodule.data_shape, uses_penalty=uses_penalty, **classes["critic"]
    )
    objective = instantiate(cfg.objective, generator=generator, critic=critic, seed=cfg.seed)
    objective.run_config = OmegaConf.to_container(cfg, resolve=True)
    if classes["generator"] or classes["critic"]:  # so a checkpoint alone rebuilds a conditional generator
        objective.run_config["num_classes"] = datamodule.num_classes
    vocabulary = getattr(datamodule, "vocabulary", None)
    if vocabulary is not None:  # text: characters by id, so a checkpoint alone decodes its samples (sample.py)
        objective.run_config["vocabulary"] = list(vocabulary)
    arch = {**getattr(generator, "arch", {}), **getattr(critic, "arch", {})}  # Table 1's sampled choices
    if arch:
        # Lightning logs a module's hyperparameters to every logger at fit start; keep any it has
        objective.save_hyperparameters({**objective.hparams, "arch": arch})
    return datamodule, objective


def build_generator(config, data_shape: Sequence[int], num_classes: int | None = None) -> nn.Module:
    """The generator a model config's `generator` node names (a config of the tree, or a checkpoint's stored
    copy of one, already checked by wgangp.checkpoints.check_buildable) for data of `data_shape`; a
    class-conditional one (`needs_labels`, wgangp.nets.conditional) gets `num_classes`, which the caller has
    checked. Training (build) and sampling a checkpoint (wgangp.sampling.load_generator) both build it here."""
    classes = {"num_classes": int(num_classes)} if needs_labels(get_class(config["_target_"])) else {}
    return instantiate(config, data_shape=data_shape, **classes)


def class_arguments(cfg: DictConfig, datamodule) -> dict[str, dict[str, int]]:
    """`num_classes` for the nets whose class has `needs_labels` (wgangp.nets.conditional), from the data
    module's `num_classes`; a UserInputError when a net or the objective needs labels the data lacks."""
    parts = {"generator": cfg.model.generator, "critic": cfg.model.critic}
    needing = {name: needs_labels(get_class(node._target_)) for name, node in parts.items()}
    objective_needs = needs_labels(get_class(cfg.objective._target_))
    if not (objective_needs or any(needing.values())):
        return {name: {} for name in parts}
    num_classes = getattr(datamodule, "num_classes", None)
    if num_classes is None:
        what = [f"model.{n} ({parts[n]._target_.rsplit('.', 1)[-1]})" for n, need in needing.items() if need]
        what += [f"the objective ({cfg.objective._target_.rsplit('.', 1)[-1]})"] if objective_needs else []
        raise UserInputError(
            f"{' and '.join(what)} need class labels, but {type(datamodule).__name__} has none (it yields images "
            "or points without labels): a class-conditional model or AC-GAN objective cannot train on it. Use a "
            "labelled data set (data=mnist, fashion_mnist, cifar10, digits, imagenet32), or an unconditional "
            "model and objective for this data (e.g. model=dcgan objective=wgan_gp)."
        )
    return {name: {"num_classes": int(num_classes)} if need else {} for name, need in needing.items()}
