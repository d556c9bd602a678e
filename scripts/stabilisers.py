"""The lecture notes' stabilisers against mode collapse on 25gaussians (docs/reproducing.md):
the standard GAN (objective=dcgan) alone, with feature matching, with minibatch discrimination and with
extragradient updates, and WGAN-GP with the toy settings (experiment=toy) for comparison; modes covered,
high-quality fraction and W1 after --iters generator iterations, per seed, then mean and spread.

    OMP_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python scripts/stabilisers.py --out logs/stabilisers [--seeds 0 1 2]

Each run is `python src/train.py <method's overrides> data=25gaussians model=toy_mlp seed=S` (in process,
composed by wgangp.build.compose_config), seed by seed (every method at seed 0, then at seed 1, ...); its
final metrics go to <out>/<method>/seed_<S>.json, and a run whose file exists is skipped, so the command
resumes where it stopped. Writes one results record per run to results/<--table>/ (wgangp.results; commit the
records to keep the measurement), re-renders the docs tables drawn from them and writes <out>/stabilisers.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from wgangp.build import compose_config
from wgangp.cli import entry_point
from wgangp.experiments.comparisons import render_stabilisers
from wgangp.results import checkout_docs, commit, keep_records, machine, new_record
from wgangp.train import train

ROOT = Path(__file__).resolve().parents[1]

METHODS = {
    "dcgan": ["objective=dcgan"],
    "dcgan_feature_matching": ["objective=dcgan", "objective.generator_loss=feature_matching"],
    # B = 8 kernels of C = 5 (Salimans et al.'s CIFAR-10 code: 100 x 5): the pairwise distances cost B * m^2 per
    # critic forward, and 100 kernels at batch 256 would make this row ~10x the others' CPU time
    "dcgan_minibatch_discrimination": [
        "objective=dcgan",
        "model.critic.minibatch=discrimination",
        "model.critic.minibatch_kernels=8",
    ],
    "dcgan_extragradient": ["objective=dcgan", "objective.update=extragradient"],
    "wgan_gp_toy": ["experiment=toy"],  # lambda 0.1, Adam(1e-4, betas (0.5, 0.9)), n_critic 5 (gan_toy.py)
}
METRICS = ("val/modes", "val/high_quality", "val/w1")


def run(method: str, seed: int, iters: int, out: Path) -> dict[str, float]:
    overrides = [
        *METHODS[method],
        "data=25gaussians",
        "model=toy_mlp",
        f"seed={seed}",
        f"generator_iters={iters}",
        "evaluators.w1.every_n_iters=0",  # evaluate once, at the end
        "evaluators.modes.every_n_iters=0",
        "evaluators.critic_validation=null",
        "callbacks.progress.refresh_rate=0",
    ]
    code = commit(ROOT)  # the code that trains it, read before training: a commit made meanwhile is not it
    t0 = time.perf_counter()
    metrics = train(compose_config(out / method / f"run_seed_{seed}", overrides))
    result = {k: metrics[k] for k in METRICS} | {"seconds": time.perf_counter() - t0, "overrides": overrides}
    result |= {"iterations": iters, "commit": code, "machine": machine()}
    (out / method / f"seed_{seed}.json").write_text(json.dumps(result, indent=2))
    return result


def records(out: Path, seeds: list[int], table: str) -> list[dict]:
    """One results record per finished run under `out`, in the table's order (method, then seed)."""
    found = []
    for order, method in enumerate(METHODS):
        for seed in seeds:
            path = out / method / f"seed_{seed}.json"
            if not path.is_file():
                continue
            r = json.loads(path.read_text())
            found.append(
                new_record(
                    table, f"{method}/seed{seed}", overrides=r["overrides"], seed=seed,
                    iteration=r.get("iterations", 0), wall_seconds=r["seconds"],
                    metrics={k: r[k] for k in METRICS}, code=r.get("commit", "unknown"),
                    host=r.get("machine", "unknown"), method=method, order=order,
                )
            )  # fmt: skip
    return found


@entry_point
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("logs/stabilisers"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iters", type=int, default=2000, help="generator iterations per run")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--table", default="stabilisers", help="the records' folder under --results")
    parser.add_argument("--results", default=ROOT / "results", type=Path, help="the records' root (results/)")
    args = parser.parse_args()
    for seed in args.seeds:  # seed-major: an interrupted sweep has every method at the seeds it reached
        for method in args.methods:
            if not (args.out / method / f"seed_{seed}.json").is_file():
                result = run(method, seed, args.iters, args.out)
                print(method, seed, {k: round(v, 4) for k, v in result.items() if k in METRICS}, flush=True)
    found = records(args.out, args.seeds, args.table)
    changed = keep_records(found, args.results, checkout_docs(args.results, ROOT))
    text = render_stabilisers(found)
    (args.out / "stabilisers.md").write_text(text + "\n")
    print(text)
    print(f"records in {args.results / args.table}/; re-rendered: " + (", ".join(changed) or "nothing changed"))


if __name__ == "__main__":
    main()
