"""Seconds per WGAN-GP generator iteration: a plain-PyTorch reference, the project through Lightning and
in a bare loop, and the fraction of this machine's peak each reaches. `make bench` runs it.

    .venv/bin/python scripts/bench.py                              # toy, dcgan, resnet; fp32 and bf16-mixed
    .venv/bin/python scripts/bench.py --models toy --rounds 5 --iters toy=20
    .venv/bin/python scripts/bench.py --models dcgan --precisions 32-true
    .venv/bin/python scripts/bench.py --models dcgan resnet --precisions 32-true tf32 bf16-mixed   # a CUDA GPU

Variants, each from the same initial weights and on the same real batches, z and epsilon:
- reference: Algorithm 1 as the popular ports write it (wgangp.reference.ReferenceLoop), in fp32 with
  PyTorch's default settings and torch.nn's units;
- lightning: the project as users run it, `Trainer.fit` with the project's default callbacks and CSV
  logger, at each precision (32-true: IEEE fp32 math, also on a GPU; tf32, CUDA Ampere and later only:
  32-true with TF32 matmuls and convolutions; bf16-mixed: bf16 autocast);
- bare: the project's `train_iteration` in a Python loop (Lightning's overhead is lightning - bare);
- bare, oneDNN fp32 matmul off (toy fp32 only), and (toy, --ablations) bare with torch.nn's ReLU, with
  foreach Adam, with separate real and fake critic forwards: the project without one lever each.

The variants run round-robin (each round runs every variant for --iters iterations, then the peak
kernels), so machine noise hits all alike; a time is the median over rounds. Before timing, one
generator iteration of every variant from the initial weights is compared with the reference's: its
mean critic and generator losses and both players' parameter gradients (relative L2 error); that the
loops agree over several iterations is a `make test` check (tests/test_reference_loop.py).
FLOPs of one generator iteration are counted with wgangp.flops (fp32 math; bf16 does the same
operations), for the reference and for the project, whose ReLU, LeakyReLU and mean pool spare the
penalty's double backward a pass of zeros through the forward graph (wgangp.nets.units). Peaks are the
best of a large matmul and a 3x3 convolution per dtype, timed in every round. `ratio` is reference
seconds / variant seconds (> 1: faster than the reference). Parameter counts: scripts/params.py.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import logging
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import Tensor, nn

from wgangp.build import build, compose_config
from wgangp.cli import entry_point
from wgangp.data.writers import labelled_images, write_cifar10
from wgangp.flops import count_flops
from wgangp.nets.units import with_torch_units
from wgangp.objectives.base import GANObjective
from wgangp.precision import bf16_is_fast, onednn_fp32_matmul_error, use_onednn_fp32_matmul
from wgangp.reference import ReferenceLoop

# What each model is benchmarked on: the toy MLP at the toy experiment's batch 256, the convnets on
# CIFAR-10-shaped data (3x32x32, batch 64; generated files in the real format, read by the real loader).
MODELS = {
    "toy": ["experiment=toy", "data.batch_size=256"],
    "dcgan": ["model=dcgan", "data=cifar10", "data.batch_size=64"],
    "resnet": ["model=resnet", "data=cifar10", "data.batch_size=64"],
}
DEFAULT_ITERS = {"toy": 30, "dcgan": 2, "resnet": 1}
# Tolerances of the correctness check (relative errors against the fp32 reference): fp32 differs only in
# summation order; bf16 rounds every matmul input to 8 bits of mantissa.
# TF32 keeps 10 bits of mantissa.
CHECK_TOL = {"32-true": 1e-3, "tf32": 2e-2, "bf16-mixed": 0.1}
# --precisions: what each one sets trainer.precision to, and its short name in run folders.
TRAINER_PRECISION = {"32-true": "32-true", "tf32": "32-true", "bf16-mixed": "bf16-mixed"}
SHORT = {"32-true": "fp32", "tf32": "tf32", "bf16-mixed": "bf16"}

log = logging.getLogger("wgangp.bench")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds_per_step(
    step: Callable[[], object], iters: int, device: torch.device, onednn: bool, tf32: bool = False
) -> float:
    """Mean wall seconds of `iters` calls of `step`, device work included."""
    with onednn_matmul(onednn), cuda_tf32(tf32):
        sync(device)
        start = time.perf_counter()
        for _ in range(iters):
            step()
        sync(device)
    return (time.perf_counter() - start) / iters


@contextlib.contextmanager
def onednn_matmul(enabled: bool) -> Iterator[None]:
    previous = torch.backends.mkldnn.matmul.fp32_precision
    torch.backends.mkldnn.matmul.fp32_precision = "bf16" if enabled else "none"
    try:
        yield
    finally:
        torch.backends.mkldnn.matmul.fp32_precision = previous


@contextlib.contextmanager
def cuda_tf32(enabled: bool) -> Iterator[None]:
    """On a CUDA machine: fp32 matmuls and convolutions in TF32 (Ampere and later) when `enabled`, else in
    IEEE fp32 (PyTorch's own default computes convolutions in TF32, so the fp32 rows ask for IEEE). A no-op
    without CUDA, where oneDNN's setting (onednn_matmul) is the one that counts. Matmuls are set with
    torch.set_float32_matmul_precision, which sets every backend alike: a per-backend setting that
    disagrees makes torch.get_float32_matmul_precision (Lightning calls it on CUDA) raise."""
    if not torch.cuda.is_available():
        yield
        return
    previous = torch.get_float32_matmul_precision(), torch.backends.cudnn.conv.fp32_precision
    torch.set_float32_matmul_precision("high" if enabled else "highest")
    torch.backends.cudnn.conv.fp32_precision = "tf32" if enabled else "ieee"
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous[0])
        torch.backends.cudnn.conv.fp32_precision = previous[1]


def real_batches(datamodule: L.LightningDataModule, device: torch.device) -> Iterator[Tensor]:
    """The training stream outside a Trainer: real batches (n_critic, m, *data_shape) on `device`."""
    for batch in datamodule.train_dataloader():
        batch = {k: v.to(device) for k, v in batch.items()}
        yield datamodule.on_after_batch_transfer(batch, 0)["real"]


def grads(module: nn.Module) -> Tensor:
    """All parameter gradients of `module`, flattened and concatenated (zeros where a gradient is None)."""
    return torch.cat(
        [
            (p.grad if p.grad is not None else torch.zeros_like(p)).detach().float().flatten()
            for p in module.parameters()
        ]
    )


def _torch_units(objective: GANObjective) -> None:
    with_torch_units(objective.generator)
    with_torch_units(objective.critic)


def _foreach_adam(objective: GANObjective) -> None:
    objective.optimizer_factory = partial(objective.optimizer_factory, fused=False)
    objective.generator_optimizer_factory = partial(objective.generator_optimizer_factory, fused=False)


def _two_critic_forwards(objective: GANObjective) -> None:
    objective.joint_critic_forward = False


# The project's levers, each undone alone in a `bare` variant of the toy step (--ablations): the row's
# ratio next to the plain `bare` row is what that lever is worth.
LEVERS: dict[str, Callable[[GANObjective], None]] = {
    "torch.nn ReLU (zero pass kept)": _torch_units,
    "foreach Adam (not fused)": _foreach_adam,
    "separate real and fake critic forwards": _two_critic_forwards,
}


# ---- the variants ----------------------------------------------------------------------------------
class Reference:
    """wgangp.reference's Alg. 1 loop on the objective's nets with torch.nn's units, Adam as the config
    sets it (lr, betas; PyTorch's default implementation), fp32, default backend settings."""

    label = "reference"
    precision = "32-true"
    flops_as = "reference"  # whose FLOP count (bench_model's info["flops"]) this variant runs

    def __init__(self, objective: GANObjective, cfg: DictConfig, batches: Iterator[Tensor]) -> None:
        _torch_units(objective)
        self.G, self.D, self.batches = objective.generator, objective.critic, batches
        opt = cfg.objective.optimizer
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=opt.lr, betas=tuple(opt.betas))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=opt.lr, betas=tuple(opt.betas))
        self.loop = ReferenceLoop(
            self.G,
            self.D,
            self.opt_g,
            self.opt_d,
            n_critic=int(cfg.objective.n_critic),
            gp_weight=float(cfg.objective.gp_weight),
            seed=objective.seed,
        )

    def step(self) -> dict[str, Tensor]:
        return self.loop.step(next(self.batches))

    def run(self, iters: int) -> float:
        return seconds_per_step(self.step, iters, next(self.G.parameters()).device, onednn=False)


class Bare:
    """The project's generator iteration (GANObjective.train_iteration) in a plain loop, no Trainer."""

    def __init__(
        self,
        objective: GANObjective,
        batches: Iterator[Tensor],
        precision: str,
        onednn: bool,
        label: str = "bare",
        flops_as: str = "project",
    ) -> None:
        self.objective, self.batches, self.precision, self.onednn, self.label = (
            objective,
            batches,
            precision,
            onednn,
            label,
        )
        self.flops_as = flops_as  # "reference" where a lever undone makes it run the reference's operations
        self.tf32 = precision == "tf32"
        self.opt_g, self.opt_d = objective.configure_optimizers()

    def autocast(self):
        if self.precision == "bf16-mixed":
            return torch.autocast(self.objective.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def step(self) -> dict[str, Tensor]:
        obj = self.objective
        real = next(self.batches)
        with self.autocast():
            terms = obj.train_iteration(real, self.opt_g, self.opt_d, obj.step_rng())
        obj.generator_iter += 1
        obj._track_finite(terms)  # the NaN guard, as training_step runs it (a host read on the CPU)
        if obj.device.type == "cpu":
            obj.check_finite()
        return terms

    def run(self, iters: int) -> float:
        return seconds_per_step(self.step, iters, self.objective.device, self.onednn, self.tf32)


class _BatchTimer(L.Callback):
    """Wall time from the first training batch's start to the last one's end (after every other callback)."""

    def __init__(self) -> None:
        self.start = self.end = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == 0:
            sync(pl_module.device)
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        sync(pl_module.device)
        self.end = time.perf_counter()


class Lightning:
    """The project as users run it: Trainer.fit with the default callbacks and logger of conf/train.yaml.

    Every round is one fit of `iters` generator iterations continuing from the current weights; the
    timed window runs from the first batch's start to the last batch's end (fit start-up and the
    callbacks' end-of-fit work are outside it)."""

    label = "lightning"
    flops_as = "project"

    def __init__(
        self,
        cfg: DictConfig,
        objective: GANObjective,
        datamodule: L.LightningDataModule,
        onednn: bool,
        precision: str = "32-true",
    ) -> None:
        self.cfg, self.objective, self.datamodule, self.onednn = cfg, objective, datamodule, onednn
        self.precision, self.tf32 = precision, precision == "tf32"

    def run(self, iters: int) -> float:
        cfg = self.cfg
        timer = _BatchTimer()
        callbacks = [instantiate(c) for c in cfg.callbacks.values() if c is not None]
        loggers = [instantiate(c) for c in cfg.logger.values() if c is not None]
        trainer: L.Trainer = instantiate(
            cfg.trainer,
            max_steps=iters,
            callbacks=[*callbacks, timer],
            logger=loggers,
        )
        with onednn_matmul(self.onednn), cuda_tf32(self.tf32):
            trainer.fit(self.objective, datamodule=self.datamodule)
        return (timer.end - timer.start) / iters


# ---- peaks -----------------------------------------------------------------------------------------
def peak_kernels(
    device: torch.device, bf16: bool, onednn: bool, tf32: bool = False
) -> dict[str, tuple[Callable[[], Tensor], float]]:
    """name -> (kernel, FLOPs): a 2048^3 matmul and a 3x3 convolution (batch 64, 128 -> 128 channels,
    32x32, the ResNet's block shape), fp32 and (where wanted) bf16 and TF32."""
    n, (b, c, h) = 2048, (64, 128, 32)
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, generator=gen)
    x = torch.randn(b, c, h, h, device=device, generator=gen)
    w = torch.randn(c, c, 3, 3, device=device, generator=gen) / 30
    mm_flops, conv_flops = 2 * n**3, 2 * b * c * c * 9 * h * h
    kernels = {"fp32 matmul 2048": (lambda: a @ a, mm_flops)}
    if onednn:

        def onednn_mm() -> Tensor:
            with onednn_matmul(True):
                return a @ a

        kernels["fp32 matmul 2048 (oneDNN)"] = (onednn_mm, mm_flops)
    kernels["fp32 conv3x3 64x128x32x32"] = (lambda: nn.functional.conv2d(x, w, padding=1), conv_flops)
    if tf32:

        def in_tf32(kernel: Callable[[], Tensor]) -> Callable[[], Tensor]:
            def run() -> Tensor:
                with cuda_tf32(True):
                    return kernel()

            return run

        kernels["tf32 matmul 2048"] = (in_tf32(lambda: a @ a), mm_flops)
        kernels["tf32 conv3x3 64x128x32x32"] = (in_tf32(lambda: nn.functional.conv2d(x, w, padding=1)), conv_flops)
    if bf16:
        ab, xb, wb = a.bfloat16(), x.bfloat16(), w.bfloat16()
        kernels["bf16 matmul 2048"] = (lambda: ab @ ab, mm_flops)
        kernels["bf16 conv3x3 64x128x32x32"] = (lambda: nn.functional.conv2d(xb, wb, padding=1), conv_flops)
    return kernels


def time_kernel(kernel: Callable[[], Tensor], device: torch.device, reps: int = 3) -> float:
    kernel()
    best = float("inf")
    for _ in range(reps):
        sync(device)
        start = time.perf_counter()
        kernel()
        sync(device)
        best = min(best, time.perf_counter() - start)
    return best


# ---- one model -------------------------------------------------------------------------------------
@contextlib.contextmanager
def zero_lr(*optimizers: torch.optim.Optimizer) -> Iterator[None]:
    saved = [[g["lr"] for g in opt.param_groups] for opt in optimizers]
    for opt in optimizers:
        for g in opt.param_groups:
            g["lr"] = 0.0
    try:
        yield
    finally:
        for opt, lrs in zip(optimizers, saved, strict=True):
            for g, lr in zip(opt.param_groups, lrs, strict=True):
                g["lr"] = lr


def rel_err(a: Tensor | float, b: Tensor | float, floor: float = 1e-2) -> float:
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return float((a - b).norm() / max(float(b.norm()), floor))


def bench_model(
    name: str, args: argparse.Namespace, root: Path, device: torch.device, onednn: bool, bf16_ok: bool
) -> tuple[list[dict], dict]:
    overrides = [*MODELS[name], f"objective.n_critic={args.n_critic}"]
    if "data=cifar10" in overrides:
        overrides.append(f"data.root={root / 'cifar10'}")
    precisions = [p for p in args.precisions if (p != "bf16-mixed" or bf16_ok) and (p != "tf32" or tf32_ok(device))]

    def make(precision: str, tag: str) -> tuple[DictConfig, L.LightningDataModule, GANObjective]:
        cfg = compose_config(
            root / "runs" / f"{name}-{tag}", [*overrides, f"trainer.precision={TRAINER_PRECISION[precision]}"]
        )
        datamodule, objective = build(cfg)
        objective.load_state_dict(initial)  # the same initial weights in every variant
        return cfg, datamodule, objective.to(device)

    L.seed_everything(0, verbose=False)
    cfg0 = compose_config(root / "runs" / f"{name}-init", [*overrides])
    _, first = build(cfg0)
    initial = copy.deepcopy(first.state_dict())
    n_g = sum(p.numel() for p in first.generator.parameters())
    n_d = sum(p.numel() for p in first.critic.parameters())
    info = {"model": name, "batch": int(cfg0.data.batch_size), "params": (n_g, n_d)}

    _, dm_ref, obj_ref = make("32-true", "reference")
    reference = Reference(obj_ref, cfg0, real_batches(dm_ref, device))
    variants: list = [reference]
    for precision in precisions:
        short = SHORT[precision]
        _, dm_bare, obj_bare = make(precision, f"bare-{short}")
        variants.append(Bare(obj_bare, real_batches(dm_bare, device), precision, onednn))
        cfg_l, dm_l, obj_l = make(precision, f"lightning-{short}")
        variants.append(Lightning(cfg_l, obj_l, dm_l, onednn, precision))
        if precision == "32-true" and onednn and name == "toy":
            _, dm_off, obj_off = make(precision, "bare-fp32-nodnn")
            variants.append(
                Bare(obj_off, real_batches(dm_off, device), precision, False, label="bare, oneDNN fp32 matmul off")
            )
        if name == "toy" and args.ablations:
            for i, (lever, undo) in enumerate(LEVERS.items()):
                _, dm_a, obj_a = make(precision, f"bare-{short}-ablation{i}")
                undo(obj_a)
                variants.append(
                    Bare(
                        obj_a,
                        real_batches(dm_a, device),
                        precision,
                        onednn,
                        label=f"bare, {lever}",
                        flops_as="reference" if undo is _torch_units else "project",
                    )
                )

    # FLOPs of one generator iteration of the reference and of the project (on throw-away copies, fp32)
    _, dm_f, obj_f = make("32-true", "flops-reference")
    info["flops"] = {"reference": count_flops(Reference(obj_f, cfg0, real_batches(dm_f, device)).step)}
    _, dm_f, obj_f = make("32-true", "flops")
    opt_g, opt_d = obj_f.configure_optimizers()
    batches = real_batches(dm_f, device)
    info["flops"]["project"] = count_flops(lambda: obj_f.train_iteration(next(batches), opt_g, opt_d, obj_f.step_rng()))

    # Correctness: one generator iteration of every variant from the initial weights, with learning rate 0
    # so every critic step and the generator step see the initial weights: the losses and the gradients of
    # the last critic step and of the generator step then compare the math alone (with a real learning
    # rate Adam's first, sign-like step turns rounding noise in gradients that should be 0 into lr-sized
    # differences).
    with zero_lr(reference.opt_g, reference.opt_d):
        ref_terms = reference.step()
    ref_grads = {"generator": grads(reference.G), "critic": grads(reference.D)}
    checks = {}
    for v in variants[1:]:
        obj = v.objective
        if isinstance(v, Bare):
            with zero_lr(v.opt_g, v.opt_d), onednn_matmul(v.onednn), cuda_tf32(v.tf32):
                terms = v.step()
            loss_err = max(rel_err(terms[k], ref_terms[k]) for k in ("critic_loss", "generator_loss"))
        else:
            factories = obj.optimizer_factory, obj.generator_optimizer_factory
            obj.optimizer_factory, obj.generator_optimizer_factory = (partial(f, lr=0.0) for f in factories)
            try:
                v.run(1)
            finally:
                obj.optimizer_factory, obj.generator_optimizer_factory = factories
            loss_err = None  # logged every log_every_n_steps only; the gradients carry the losses
        grad_err = max(rel_err(grads(getattr(obj, p)), ref_grads[p]) for p in ("generator", "critic"))
        worst = max(grad_err, loss_err or 0.0)
        checks[id(v)] = (worst, worst <= CHECK_TOL[v.precision], loss_err, grad_err)

    # Warm-up (kernel creation), then the round-robin.
    for v in variants:
        v.run(1)
    iters = args.iters.get(name, DEFAULT_ITERS[name])
    times: dict[int, list[float]] = {id(v): [] for v in variants}
    kernels = peak_kernels(device, bf16_ok, onednn, tf32="tf32" in precisions)
    peaks: dict[str, float] = {}
    for r in range(args.rounds):
        for v in variants:
            times[id(v)].append(v.run(iters))
        for kname, (kernel, flops) in kernels.items():
            peaks[kname] = max(peaks.get(kname, 0.0), flops / time_kernel(kernel, device))
        log.info(
            "%s round %d/%d: %s",
            name,
            r + 1,
            args.rounds,
            ", ".join(f"{v.label} {v.precision} {times[id(v)][-1]:.3f}s" for v in variants),
        )

    rows = []
    ref_s = statistics.median(times[id(reference)])
    for v in variants:
        s = statistics.median(times[id(v)])
        worst, ok, loss_err, grad_err = checks.get(id(v), (0.0, True, 0.0, 0.0))
        rows.append(
            {
                "variant": v.label,
                "precision": v.precision,
                "seconds": s,
                "ratio": ref_s / s,
                "spread": (min(times[id(v)]), max(times[id(v)])),
                "check": "(reference)" if v is reference else f"{'ok' if ok else 'FAIL'} {worst:.0e}",
                "flops_as": v.flops_as,
                "ok": ok,
            }
        )
    info["peaks"] = peaks
    return rows, info


# ---- main ------------------------------------------------------------------------------------------
def tf32_ok(device: torch.device) -> bool:
    """TF32 exists on CUDA GPUs of compute capability 8.0 (Ampere) and later."""
    return device.type == "cuda" and torch.cuda.get_device_capability(device)[0] >= 8


def parse_iters(text: str) -> dict[str, int]:
    out = {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        if key not in MODELS or not value.isdigit() or int(value) < 1:
            raise argparse.ArgumentTypeError(f"--iters takes MODEL=N[,MODEL=N], MODEL in {list(MODELS)}; got {item}")
        out[key] = int(value)
    return out


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


@entry_point
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument(
        "--precisions",
        nargs="+",
        choices=list(TRAINER_PRECISION),
        default=["32-true", "bf16-mixed"],
        help="tf32: CUDA (Ampere and later) only, skipped elsewhere",
    )
    parser.add_argument("--rounds", type=int, default=2, help="round-robin rounds (median reported)")
    parser.add_argument(
        "--iters",
        type=parse_iters,
        default={},
        help=f"generator iterations per variant per round, e.g. toy=20 (default {DEFAULT_ITERS})",
    )
    parser.add_argument("--n-critic", type=int, default=5)
    parser.add_argument(
        "--ablations",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="toy only: the project with each of its levers undone alone (--no-ablations: skip)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("lightning.pytorch", "lightning.fabric", "wgangp"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    log.setLevel(logging.INFO)  # the rounds' progress (its parent "wgangp" is quiet)
    warnings.filterwarnings("ignore")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    bf16_ok = bf16_is_fast()
    onednn = device.type == "cpu" and use_onednn_fp32_matmul("auto")  # the project's choice (wgangp.train)
    onednn_err = onednn_fp32_matmul_error() if device.type == "cpu" else float("nan")
    torch.backends.mkldnn.matmul.fp32_precision = "none"  # each variant sets its own
    if device.type == "cuda":  # idem (cuda_tf32): IEEE fp32 outside the tf32 variants
        torch.set_float32_matmul_precision("highest")
        torch.backends.cudnn.conv.fp32_precision = "ieee"
    load_start = loadavg()
    start = time.perf_counter()
    all_rows, infos = [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if any(m != "toy" for m in args.models):
            write_cifar10(
                root / "cifar10",
                [labelled_images(200, 32, 32, 3, seed=i) for i in range(5)],
                labelled_images(100, 32, 32, 3, seed=9),
            )
        for name in args.models:
            rows, info = bench_model(name, args, root, device, onednn, bf16_ok)
            all_rows.append(rows)
            infos.append(info)
    elapsed = time.perf_counter() - start

    dev = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"\ntorch {torch.__version__}, lightning {L.__version__}, {dev}; load average {load_start} at start, "
        f"{loadavg()} at end; {args.rounds} rounds, n_critic {args.n_critic}; {elapsed:.0f} s in all"
    )
    print(
        f"oneDNN fp32 matmul routing: {'on' if onednn else 'off'} for the project (relative error vs float64 "
        f"{onednn_err:.1e}); bf16 fast here: {bf16_ok}\n"
    )
    peaks: dict[str, float] = {}
    for info in infos:
        for k, v in info["peaks"].items():
            peaks[k] = max(peaks.get(k, 0.0), v)
    print("| peak kernel | GFLOP/s |\n|---|---|")
    for k, v in peaks.items():
        print(f"| {k} | {v / 1e9:.0f} |")
    peak = {
        p: max([v for k, v in peaks.items() if k.startswith(p)] or [float("nan")]) for p in ("fp32", "tf32", "bf16")
    }
    print(
        "\n| model (G / D params, batch) | GFLOP / iter | precision | variant | s / iter (min-max) | "
        "ratio vs reference | GFLOP/s | % of peak | check |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    failed = False
    for rows, info in zip(all_rows, infos, strict=True):
        g, d = info["params"]
        label = f"{info['model']} ({g / 1e6:.2f}M / {d / 1e6:.2f}M, {info['batch']})"
        for row in rows:
            flops = info["flops"][row["flops_as"]]
            rate = flops / row["seconds"]
            p = peak[SHORT[row["precision"]]]
            lo, hi = row["spread"]
            print(
                f"| {label} | {flops / 1e9:.1f} | {row['precision']} | {row['variant']} | "
                f"{row['seconds']:.3f} ({lo:.3f}-{hi:.3f}) | {row['ratio']:.2f} | {rate / 1e9:.0f} | "
                f"{100 * rate / p:.0f}% | {row['check']} |"
            )
            failed = failed or not row["ok"]
    print(
        "\nGFLOP / iter: counted on the reference's and on the project's step (the project skips the zero pass "
        "the penalty's double backward makes through torch.nn's ReLU, LeakyReLU and AvgPool2d). "
        "% of peak: of the best kernel of the row's precision (fp32, TF32 or bf16). check: worst "
        f"relative error of the losses and parameter gradients after one iteration vs the reference "
        f"(tolerance {CHECK_TOL['32-true']:.0e} fp32, {CHECK_TOL['tf32']:.0e} TF32, "
        f"{CHECK_TOL['bf16-mixed']:.0e} bf16)."
    )
    if "tf32" in args.precisions and not tf32_ok(device):
        print("tf32 rows skipped: TF32 needs a CUDA GPU of compute capability 8.0 or later.")
    if failed:
        raise SystemExit("a variant's losses or gradients disagree with the reference beyond tolerance")


if __name__ == "__main__":
    main()
