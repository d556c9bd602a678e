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
evaluation), writes it to DIR/<setup>.md, and writes one results record per run to results/<--table>/
(wgangp.results; commit the records to keep the measurement), re-rendering the docs tables drawn from them.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
from pathlib import Path

import torch

from wgangp.data.toy import EightGaussians, TwentyFiveGaussians
from wgangp.experiments.comparisons import render_lipschitz
from wgangp.metrics.modes import mode_coverage
from wgangp.results import checkout_docs, commit, keep_records, new_record, recorded, write_record
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


def run(setup: str, method: str, seed: int, out: Path, table: str, results_dir: Path) -> dict:
    """Train the run unless it is finished, and return its results record (the commit that trained it: this
    checkout's when trained now, else the one an earlier record of it names)."""
    overrides, iters, metrics = SETUPS[setup]
    names = [m for m, _ in metrics if m not in dict(MODES)]
    name = f"{setup}/{method.replace(' ', '').replace('+', '_')}/seed{seed}"
    run_dir = out / name
    args = [
        *overrides,
        *method_overrides(setup, method),
        f"generator_iters={iters}",
        f"seed={seed}",
        "callbacks.progress.refresh_rate=0",
    ]
    result = final_metrics(run_dir, names)
    if result is not None and result.get("step", 0) >= iters:
        earlier = recorded(results_dir, table, name)
        code, host = earlier.get("commit", "unknown"), earlier.get("machine", "unknown")
    else:
        code, host = commit(REPO), None  # read before training: a commit made meanwhile did not train it
        line = [*args, f"hydra.run.dir={run_dir}"]
        print(f"[{setup} / {method} / seed {seed}] python src/train.py {' '.join(line)}", flush=True)
        subprocess.run([sys.executable, str(REPO / "src/train.py"), *line], cwd=REPO, check=True, env=os.environ)
        result = final_metrics(run_dir, names)
        if result is None:
            raise RuntimeError(f"{run_dir}/metrics.csv has no final {', '.join(names)}")
    found = {m: result[m] for m in names} | (final_modes(run_dir, setup, seed) if setup in MIXTURES else {})
    record = new_record(
        table, name, overrides=args, seed=seed, iteration=int(result["step"]),
        wall_seconds=result.get("val/wall_seconds"), metrics=found, code=code, host=host,
        setup=setup, method=method, order=list(METHODS).index(method),
    )  # fmt: skip
    write_record(results_dir, record)  # now: an interrupted comparison keeps the commit of every run it trained
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("setup", nargs="+", choices=list(SETUPS))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--table", help="the records' folder under --results (default: lipschitz_<setup>)")
    parser.add_argument("--results", default=REPO / "results", type=Path, help="the records' root (results/)")
    args = parser.parse_args()
    for setup in args.setup:
        # seed by seed, so a stopped comparison has every method at the first seeds
        table = args.table or f"lipschitz_{setup}"
        found = [run(setup, m, seed, args.out, table, args.results) for seed in args.seeds for m in args.methods]
        changed = keep_records(found, args.results, checkout_docs(args.results, REPO))
        text = render_lipschitz(found)
        (args.out / f"{setup}.md").write_text(text + "\n")
        print(text, flush=True)
        print(f"records in {args.results / args.table}/; re-rendered: " + (", ".join(changed) or "nothing changed"))


if __name__ == "__main__":
    main()
