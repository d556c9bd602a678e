"""The Lipschitz constraints compared on the same runs: WGAN-GP, WGAN + spectral normalisation,
hinge + spectral normalisation (SN-GAN's loss) and WGAN-GP with the R1 note's adaptive penalty weight.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/lipschitz_compare.py toy --out DIR [--seeds 0 1 2]
    WGANGP_DATA_DIR=$HOME/data OMP_NUM_THREADS=1 .venv/bin/python scripts/lipschitz_compare.py fashion_mnist --out DIR

Each run is `python src/train.py <the setup's overrides> <the method's overrides> seed=S` in DIR/<setup>/
<method>/seed<S>; a run whose metrics.csv already reaches its last generator iteration is not trained again,
so an interrupted comparison continues where it stopped. The four methods share the optimiser, n_critic and
the number of generator iterations of the setup, so they differ in the loss and the constraint only.
On the toy mixtures the mode measure (val/modes, val/high_quality; wgangp.evaluation.modes) is computed from
each run's final checkpoint with the ModeCoverage evaluator's fixed z, so runs trained before it existed
have it too. Prints the Markdown table (mean +- sample standard deviation over the seeds of the final
evaluation) and writes it to DIR/<setup>.md.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
from pathlib import Path

import torch

from wgangp.data.toy import EightGaussians, TwentyFiveGaussians
from wgangp.metrics.modes import mode_coverage
from wgangp.rng import EVAL, step_generator
from wgangp.sampling import load_generator

REPO = Path(__file__).resolve().parents[1]

MIXTURES = {"8gaussians": EightGaussians(), "25gaussians": TwentyFiveGaussians()}
MODES = [("val/modes", "modes"), ("val/high_quality", "high quality")]
TOY_WIDTH = ["model.generator.width=128", "model.critic.width=128"]
# setup -> (train.py overrides, generator iterations, metrics reported (name in metrics.csv, column title))
SETUPS: dict[str, tuple[list[str], int, list[tuple[str, str]]]] = {
    # the toy code's settings (conf/experiment/toy.yaml: lambda 0.1, Adam 1e-4 betas (0.5, 0.9), batch 256)
    # with 128-wide nets instead of 512 (16x fewer FLOPs: 24 runs on one CPU thread in about half an hour)
    "8gaussians": (["experiment=toy", "data=8gaussians", *TOY_WIDTH], 2000, [("val/w1", "W1"), *MODES]),
    "25gaussians": (["experiment=toy", "data=25gaussians", *TOY_WIDTH], 2000, [("val/w1", "W1"), *MODES]),
    # Alg. 1's optimiser, a narrow DCGAN without critic normalisation (spectral normalisation bounds the
    # layers only), classifier IS / FID (metrics=classifier) once at the end
    "fashion_mnist": (
        [
            "data=fashion_mnist",
            "data.download=false",
            "model=dcgan",
            "model.generator.base_filters=16",
            "model.critic.base_filters=16",
            "model.critic.norm=none",
            "metrics=classifier",
            "evaluators.quality.every_n_iters=0",
            "evaluators.samples.every_n_iters=0",
            "evaluators.critic_validation.every_n_iters=0",
        ],
        500,
        [("val/inception_score", "IS"), ("val/fid", "FID")],
    ),
}

# method -> overrides on top of the setup. The non-penalty objectives take the setup's optimiser (Adam 1e-4 and
# the setup's betas; on the toy problems that is Miyato et al.'s setting A with n_dis = 5) and drop the toy
# experiment's gp_weight.
METHODS: dict[str, list[str]] = {
    "WGAN-GP": [],
    "WGAN + SN": ["objective=wgan", "model.critic.spectral_norm=true"],
    "hinge + SN": ["objective=hinge", "model.critic.spectral_norm=true", "objective.n_critic=5"],
    "WGAN-GP adaptive": ["objective.gp_weight_schedule=adaptive"],
}
PENALTY_FREE = ("WGAN + SN", "hinge + SN")


def method_overrides(setup: str, method: str) -> list[str]:
    """The method's overrides in `setup`."""
    if method not in PENALTY_FREE:
        return list(METHODS[method])
    toy = setup != "fashion_mnist"
    betas = "[0.5,0.9]" if toy else "[0.0,0.9]"  # conf/experiment/toy.yaml's, Alg. 1's
    return [
        *METHODS[method],
        *(["~objective.gp_weight"] if toy else []),
        "objective.optimizer.lr=1e-4",
        f"objective.optimizer.betas={betas}",
    ]


def final_metrics(run_dir: Path, names: list[str]) -> dict[str, float] | None:
    """The last logged value of each of `names` and of val/wall_seconds in run_dir/metrics.csv, or None."""
    path = run_dir / "metrics.csv"
    if not path.is_file():
        return None
    found: dict[str, float] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for name in [*names, "val/wall_seconds", "step"]:
                if row.get(name):
                    found[name] = float(row[name])
    return found if all(n in found for n in names) else None


def final_modes(run_dir: Path, setup: str, seed: int) -> dict[str, float]:
    """val/modes and val/high_quality of the run's final generator, as the ModeCoverage evaluator takes them
    (its defaults: 2500 points from z of the EVAL stream index 4, 20 per mode, 3 standard deviations)."""
    generator = load_generator(run_dir / "checkpoints/last.ckpt")
    z = torch.randn(2500, generator.latent_dim, generator=step_generator(seed, 4, EVAL))
    with torch.no_grad():
        modes, high_quality = mode_coverage(generator(z), MIXTURES[setup].centres, MIXTURES[setup].std, 20, 3.0)
    return {"val/modes": float(modes), "val/high_quality": high_quality}


def run(setup: str, method: str, seed: int, out: Path) -> dict[str, float]:
    overrides, iters, metrics = SETUPS[setup]
    names = [m for m, _ in metrics if m not in dict(MODES)]
    run_dir = out / setup / method.replace(" ", "").replace("+", "_") / f"seed{seed}"
    done = final_metrics(run_dir, names)
    if done is not None and done.get("step", 0) >= iters:
        return {**done, **(final_modes(run_dir, setup, seed) if setup in MIXTURES else {})}
    args = [
        *overrides,
        *method_overrides(setup, method),
        f"generator_iters={iters}",
        f"seed={seed}",
        "callbacks.progress.refresh_rate=0",
        f"hydra.run.dir={run_dir}",
    ]
    print(f"[{setup} / {method} / seed {seed}] python src/train.py {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, str(REPO / "src/train.py"), *args], cwd=REPO, check=True, env=os.environ)
    result = final_metrics(run_dir, names)
    if result is None:
        raise RuntimeError(f"{run_dir}/metrics.csv has no final {', '.join(names)}")
    return {**result, **(final_modes(run_dir, setup, seed) if setup in MIXTURES else {})}


def spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3g}"
    return f"{statistics.mean(values):.3g} +- {statistics.stdev(values):.2g}"


def table(setup: str, results: dict[str, list[dict[str, float]]]) -> str:
    _, iters, metrics = SETUPS[setup]
    head = ["method", "seeds", *[title for _, title in metrics], "train s (mean)"]
    lines = [f"{setup}, {iters} generator iterations", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for method, runs in results.items():
        if not runs:
            continue
        cells = [spread([r[m] for r in runs]) for m, _ in metrics]
        wall = statistics.mean(r.get("val/wall_seconds", float("nan")) for r in runs)
        lines.append(f"| {method} | {len(runs)} | " + " | ".join(cells) + f" | {wall:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("setup", nargs="+", choices=list(SETUPS))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    args = parser.parse_args()
    for setup in args.setup:
        results: dict[str, list[dict[str, float]]] = {m: [] for m in args.methods}
        for seed in args.seeds:  # seed by seed, so a stopped comparison has every method at the first seeds
            for method in args.methods:
                results[method].append(run(setup, method, seed, args.out))
        text = table(setup, results)
        (args.out / f"{setup}.md").write_text(text + "\n")
        print(text, flush=True)


if __name__ == "__main__":
    main()
