"""The objective config's schema, written once: the loop fields every objective takes, as a Hydra structured config.

`ObjectiveConfig` is stored in Hydra's ConfigStore as `schema/objective`; every objective YAML starts from it

    defaults:
      - /schema/objective@_here_        # the loop fields below, typed, with their defaults
      - /optimizer@optimizer: adam_alg1
      - _self_
    _target_: wgangp.objectives.wgan_gp.WGANGP
    gp_weight: 10.0                     # the objective's own fields

so a YAML sets only what differs, and a value of the wrong type or out of range (objective.n_critic=abc) is named
before anything is built, with every other problem of the config (wgangp.config_checks).
An objective's own fields are the keyword arguments of its class, typed in its constructor, with a range where
it has one (`gp_weight: Annotated[float, NON_NEGATIVE] = 10.0`); wgangp.config_checks checks both, and names a
key no constructor takes, before anything is built. Field metadata says what the schema cannot: a value's
range (`rule`, checked by wgangp.config_checks with the other groups' rules) and whether a resume may change it
(`resume`, read by wgangp.resume).
"""

from __future__ import annotations

import inspect
import types
import typing
from dataclasses import MISSING as NO_DEFAULT
from dataclasses import dataclass, field, fields
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.utils import get_class
from omegaconf import MISSING, DictConfig, OmegaConf

from wgangp.augment import DEFAULT_POLICY
from wgangp.objectives.engine import GENERATOR_LOSSES
from wgangp.objectives.updates import UPDATES
from wgangp.objectives.view import AUGMENTS
from wgangp.rules import FLAG, NON_NEGATIVE, POSITIVE, Rule, count, number
from wgangp.schedules import LR_DECAYS


def _field(default: Any, rule: Rule | None = None, resume: bool = False) -> Any:
    return field(default=default, metadata={"rule": rule, "resume": resume})


@dataclass
class ObjectiveConfig:
    """What GANObjective (wgangp.objectives.base) takes besides the nets and the seed; its docstring says what each
    field does. The defaults are Alg. 1's; tests/test_objectives.py keeps them equal to the constructor's."""

    _target_: str = MISSING
    optimizer: Any = MISSING  # a partial optimizer (conf/optimizer/), both players unless generator_optimizer is set
    # The optimizers' hyperparameters may change on resume (GANObjective.on_train_start re-applies them), their
    # classes may not; wgangp.resume lists them.
    generator_optimizer: Any = None
    n_critic: int = _field(5, count(1, note="critic steps per generator iteration, Alg. 1 l.2"))
    # re-applied to the restored optimizer state, like the optimizers' hyperparameters
    critic_weight_decay: float = _field(0.0, NON_NEGATIVE, resume=True)
    # a function of the iteration, applied to the configured lr at every generator iteration (wgangp.schedules),
    # so a resume honours a new schedule from its first iteration
    lr_decay: str = _field("none", Rule("choice", choices=LR_DECAYS, note="App. F's decay is linear"), resume=True)
    # the schedule's length: the whole run (App. F), conf/train.yaml's generator_iters; so a longer resumed run
    # stretches a linear schedule (the lr steps up) unless the old length is passed, objective.lr_decay_iters=N
    lr_decay_iters: int | None = _field(
        "${generator_iters}", count(1, nullable=True, note="the schedule's length in generator iterations"), True
    )
    generator_batch_size: int | None = _field(
        None, count(1, nullable=True, note="z per generator step; null: data.batch_size")
    )
    generator_ema: float | None = _field(
        None, number(0, hi=1, hi_open=True, nullable=True, note="the average's decay, e.g. 0.999")
    )
    generator_ema_start: int = _field(0, count(0, note="generator iterations before averaging starts"))
    update: str = _field("alternating", Rule("choice", choices=UPDATES))
    generator_loss: str = _field("default", Rule("choice", choices=GENERATOR_LOSSES))
    feature_layer: int | None = _field(
        None, Rule("int", nullable=True, note="the critic layer feature matching reads; null: the last")
    )
    # lazy regularisation (Karras et al. 2020, StyleGAN2): every penalty on every k-th critic step only, times k
    penalty_every: int = _field(1, count(1, note="1: every critic step, Alg. 1"))
    # what the critic sees, in both players' steps (wgangp.objectives.view): DiffAugment or ADA, images only
    augment: str = _field("none", Rule("choice", choices=AUGMENTS))
    augment_policy: str = DEFAULT_POLICY
    ada_target: float = _field(0.6, number(-1, hi=1, note="ADA's target E[sign D(real)]"))
    ada_kimg: float = _field(500.0, POSITIVE)


LOOP_FIELDS = {f.name: f for f in fields(ObjectiveConfig)}
_NOT_FIELDS = ("self", "generator", "critic", "seed", "args", "kwargs")  # the nets and the seed come from build


def register() -> None:
    """Store the schema's fields and defaults in Hydra's ConfigStore (idempotent; done when this module is imported).

    As untyped values: OmegaConf's typed nodes would refuse a wrong type at compose time, but only the first one,
    in Hydra's words, with exit 1, before the config checks could list every problem in one paragraph (exit 2,
    docs/failures.md). The types are checked there instead, from the same fields. Open to the keys an objective
    adds (its own fields); a key no constructor takes is named by the checks too (unknown_field_problems)."""
    node = OmegaConf.create({f.name: f.default for f in fields(ObjectiveConfig)})
    OmegaConf.set_struct(node, False)
    ConfigStore.instance().store(group="schema", name="objective", node=node)


def _rule_of(annotation: Any) -> Rule | None:
    """A field's rule: the Rule in its Annotated[...] metadata, else one from a plain bool, int or float type."""
    if typing.get_origin(annotation) is typing.Annotated:
        return next((m for m in annotation.__metadata__ if isinstance(m, Rule)), None)
    args = typing.get_args(annotation)
    others = [a for a in args if a is not type(None)]
    if args and (len(others) != 1 or typing.get_origin(annotation) not in (typing.Union, types.UnionType)):
        return None  # list[int], tuple[...], int | str ...: no rule of their own (only finiteness)
    nullable = bool(args)
    base = others[0] if args else annotation
    kinds = {bool: FLAG, int: Rule("int"), float: Rule("number")}
    rule = kinds.get(base)
    return None if rule is None else Rule(rule.kind, nullable=nullable)


def objective_fields(cls: type) -> dict[str, Rule | None]:
    """Every field the objective class takes, with its rule: the loop's (ObjectiveConfig) and the keyword
    arguments of each class in its MRO that extends the loop (its own and a mixin's, e.g. InfoGAN's codes)."""
    from wgangp.objectives.base import GANObjective  # here: the config checks of sample and eval need no Lightning

    loop_types = typing.get_type_hints(ObjectiveConfig)
    found = {name: f.metadata.get("rule") or _rule_of(loop_types[name]) for name, f in LOOP_FIELDS.items()}
    for klass in cls.__mro__:
        if klass is GANObjective:  # its arguments are the loop's, above
            break
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        hints = typing.get_type_hints(init, include_extras=True)
        for name, param in inspect.signature(init).parameters.items():
            if name not in _NOT_FIELDS and param.kind not in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
                found.setdefault(name, _rule_of(hints.get(name)))
    return found


def may_change_on_resume(name: str) -> bool:
    """Whether a resume may change objective.<name> (field metadata)."""
    loop = LOOP_FIELDS.get(name)
    return loop is not None and bool(loop.metadata.get("resume"))


def objective_class(node: DictConfig) -> tuple[type | None, list[str]]:
    """The class objective._target_ names, or None and the sentence saying why there is none."""
    target = node.get("_target_")
    try:
        return get_class(target), []
    except Exception as error:  # noqa: BLE001 - a wrong _target_ of any kind is one sentence here
        shown = "null" if target is None else repr(target)
        return None, [f"objective._target_={shown} names no importable class ({error}); check the module path."]


def unknown_field_problems(node: DictConfig, cls: type) -> list[str]:
    """A sentence for each objective key the class does not take (Hydra's instantiate would fail on it later)."""
    known = objective_fields(cls)
    fields_taken = ", ".join(sorted(k for k in known if k != "_target_"))
    return [
        f"objective.{key} is not a field of {cls.__name__}: it takes {fields_taken} (a misspelt field, "
        "or a field of another objective?)."
        for key in node.keys()
        if key != "_target_" and key not in known
    ]


def loop_defaults() -> dict[str, Any]:
    """The schema's defaults of the loop fields that have a value of their own, not MISSING or an interpolation
    of another group's field (for the test that keeps them equal to GANObjective's)."""
    return {
        f.name: f.default
        for f in fields(ObjectiveConfig)
        if f.default is not NO_DEFAULT and f.default != MISSING and not str(f.default).startswith("${")
    }


register()  # on import: every composition of the training config (train.py, wgangp.build, sweeps) imports this
