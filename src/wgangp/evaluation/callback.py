"""The periodic evaluation: one callback runs every evaluator the data config selected."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from wgangp.evaluation.base import Artifact, Evaluator, Image, Table, eval_mode
from wgangp.evaluation.context import EvalContext, objective_context

log = logging.getLogger("wgangp")


class PeriodicEvaluation(Callback):
    """Runs `evaluators` on their schedules, counted in generator iterations (`pl_module.generator_iter`),
    and once more at the end of training.

    In `setup` it builds the run's EvalContext (wgangp.evaluation.context.objective_context: the seed, latent
    prior, classes and run config of the objective, the run directory `trainer.default_root_dir`, the
    trainer's root device) and hands it to every evaluator's `setup`.

    It owns, for every evaluator: the schedule (`every_n_iters`, `at_start`), rank-0 gating (evaluators
    with `all_ranks` run on every DDP rank, the others on global rank 0), eval mode and no_grad, one
    evaluation per generator iteration, the loggers (every value goes to each Lightning logger at
    step = generator iteration, so metrics.csv rows land at exact iterations whatever
    trainer.log_every_n_steps is) and `trainer.callback_metrics` (what wgangp.train.train returns and
    the sweeps' `sweep.score` reads). With each evaluation it logs `val/<name>_seconds` (its cost) and
    `val/wall_seconds`: training wall-clock time without the time spent evaluating, so curves can be
    drawn against time as in Fig. 3 (right); it is kept in checkpoints, so a resumed run continues it.

    With a weight average of the generator (objective.generator_ema: `pl_module.ema_generator`), every
    evaluator also scores it, right after the raw generator and with the same critic and fixed inputs:
    its metrics are logged as `val/ema/<name>` (`val/fid` -> `val/ema/fid`), its files go under
    `<out_dir>/ema/` (e.g. ema/samples.png) through a twin of the evaluator (Evaluator.twin).

    Args:
        evaluators: name -> Evaluator (the `evaluators:` config node). Entries that are not evaluators,
            e.g. settings that debug=fast gives an evaluator the data config did not select, or null,
            are dropped.
    """

    def __init__(self, evaluators: Mapping[str, Any] | None = None) -> None:
        self.evaluators: dict[str, Evaluator] = {
            name: ev for name, ev in (evaluators or {}).items() if isinstance(ev, Evaluator)
        }
        self._active: dict[str, Evaluator] = {}
        self.context: EvalContext | None = None  # built in setup, from the objective and the trainer
        self._ema: dict[str, Evaluator] = {}  # twins scoring the generator's weight average, by evaluator name
        self._ema_states: dict[str, Any] = {}  # their checkpointed histories, until setup has made them
        self._wall_offset = 0.0  # training seconds before this process (restored on resume)
        self._eval_seconds = 0.0  # seconds this process spent evaluating
        self._t0: float | None = None

    # ---- wall clock ----------------------------------------------------------------------------------
    def wall_seconds(self) -> float:
        """Training wall-clock seconds so far, evaluations excluded, across resumes."""
        if self._t0 is None:
            return self._wall_offset
        return self._wall_offset + time.perf_counter() - self._t0 - self._eval_seconds

    # ---- hooks ---------------------------------------------------------------------------------------
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._active = {n: ev for n, ev in self.evaluators.items() if ev.all_ranks or trainer.is_global_zero}
        if self._active and trainer.is_global_zero:  # 0 means "at the end only": say what runs when
            log.info(
                "evaluators: %s (evaluators.NAME=null turns one off)",
                ", ".join(
                    f"{n} {f'every {ev.every_n_iters} generator iterations' if ev.every_n_iters else 'at the end only'}"
                    for n, ev in self._active.items()
                ),
            )
        # the one context every evaluator gets; no evaluator reads pl_module itself
        self.context = objective_context(
            pl_module, out_dir=trainer.default_root_dir, device=trainer.strategy.root_device
        )
        for ev in self._active.values():
            ev.setup(trainer.datamodule, self.context)
        if getattr(pl_module, "ema_generator", None) is not None:
            self._ema = {n: ev.twin(EMA) for n, ev in self._active.items()}
            for name, state in self._ema_states.items():
                if name in self._ema:
                    self._ema[name].load_state_dict(state)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._t0, self._eval_seconds = time.perf_counter(), 0.0
        self._run(trainer, pl_module, [n for n, ev in self._active.items() if ev.at_start], final=False)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        k = pl_module.generator_iter
        self._run(trainer, pl_module, [n for n, ev in self._active.items() if ev.due(k)], final=False)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._run(trainer, pl_module, list(self._active), final=True)

    # ---- one evaluation step -------------------------------------------------------------------------
    def _run(self, trainer: L.Trainer, pl_module, names: list[str], final: bool) -> None:
        if not names:
            return
        started = time.perf_counter()
        wall = self.wall_seconds()
        k = pl_module.generator_iter
        writes = trainer.is_global_zero  # files and logs from rank 0 only
        metrics: dict[str, float] = {}
        artifacts: list[Artifact] = []
        critic = pl_module.critic
        ema = getattr(pl_module, "ema_generator", None)
        for name in names:
            scored = [(self._active[name], pl_module.generator, "")]
            if ema is not None:
                scored.append((self._ema[name], ema.module, EMA))
            for ev, generator, variant in scored:
                fresh = not ev.history or ev.history[-1][0] != k  # once per generator iteration
                with torch.no_grad(), eval_mode(generator, critic):
                    if fresh:
                        t0 = time.perf_counter()
                        values = ev.evaluate(generator, critic)
                        ev.history.append((k, values))
                        metrics.update(_renamed(values, variant))
                        metrics[_renamed_key(f"val/{name}_seconds", variant)] = time.perf_counter() - t0
                        if writes:
                            artifacts += _renamed_artifacts(ev.write(k), variant)
                    if final and writes:
                        artifacts += _renamed_artifacts(ev.finish(k), variant)
        if metrics:
            metrics["val/wall_seconds"] = wall
        if writes:
            for logger in trainer.loggers:
                if metrics:
                    logger.log_metrics(metrics, step=k)
            self._send(trainer, artifacts, k)
        trainer.callback_metrics.update({n: torch.tensor(v) for n, v in metrics.items()})
        self._eval_seconds += time.perf_counter() - started

    @staticmethod
    def _send(trainer: L.Trainer, artifacts: list[Artifact], step: int) -> None:
        for logger in trainer.loggers:
            for a in artifacts:
                if isinstance(a, Image) and hasattr(logger, "log_image"):  # W&B
                    logger.log_image(a.key, [str(a.path)], step=step)
                elif isinstance(a, Table) and hasattr(logger, "log_text"):  # W&B: a table
                    logger.log_text(a.key, columns=a.columns, data=a.rows, step=step)

    # ---- checkpoint state ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "wall_seconds": self.wall_seconds(),
            "evaluators": {n: ev.state_dict() for n, ev in self.evaluators.items()},
            "ema_evaluators": {n: ev.state_dict() for n, ev in self._ema.items()},
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._wall_offset = float(state_dict.get("wall_seconds", 0.0))
        for name, state in state_dict.get("evaluators", {}).items():
            if name in self.evaluators:
                self.evaluators[name].load_state_dict(state)
        self._ema_states = dict(state_dict.get("ema_evaluators", {}))
        for name, state in self._ema_states.items():
            if name in self._ema:
                self._ema[name].load_state_dict(state)


EMA = "ema"  # the weight average's metric prefix (val/ema/...) and files' subfolder


def _renamed_key(key: str, variant: str) -> str:
    """`val/fid` -> `val/<variant>/fid`; unchanged for the raw generator (variant "")."""
    if not variant:
        return key
    split, _, name = key.partition("/")
    return f"{split}/{variant}/{name}"


def _renamed(metrics: dict[str, float], variant: str) -> dict[str, float]:
    return {_renamed_key(k, variant): v for k, v in metrics.items()}


def _renamed_artifacts(artifacts: list[Artifact], variant: str) -> list[Artifact]:
    return [dataclasses.replace(a, key=_renamed_key(a.key, variant)) for a in artifacts]
