"""The lecture notes' stabilisers against mode collapse on 25gaussians (docs/reproducing.md):
the standard GAN (objective=dcgan) alone, with feature matching, with minibatch discrimination and with
extragradient updates, and WGAN-GP with the toy settings (experiment=toy) for comparison; modes covered,
high-quality fraction and W1 after --iters generator iterations, per seed, then mean and spread.

    OMP_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python scripts/stabilisers.py --out logs/stabilisers [--seeds 0 1 2]

Each run is `python src/train.py <method's overrides> data=25gaussians model=toy_mlp seed=S` (in process,
composed by wgangp.build.compose_config), seed by seed (every method at seed 0, then at seed 1, ...); its
final metrics go to <out>/<method>/seed_<S>.json, and a run whose file exists is skipped, so the command
resumes where it stopped. Writes <out>/stabilisers.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from wgangp.build import compose_config
from wgangp.cli import entry_point
from wgangp.train import train

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
    t0 = time.perf_counter()
    metrics = train(compose_config(out / method / f"run_seed_{seed}", overrides))
    result = {k: metrics[k] for k in METRICS} | {"seconds": time.perf_counter() - t0, "overrides": overrides}
    (out / method / f"seed_{seed}.json").write_text(json.dumps(result, indent=2))
    return result


def table(out: Path, seeds: list[int]) -> str:
    rows = [
        "| method | modes (of 25) | high-quality fraction | W1 | seeds | s/run |",
        "|---|---|---|---|---|---|",
    ]
    for method in METHODS:
        results = [json.loads(p.read_text()) for s in seeds if (p := out / method / f"seed_{s}.json").is_file()]
        if not results:
            continue
        cells = []
        for key, fmt in zip(METRICS, ("{:.1f} ± {:.1f}", "{:.3f} ± {:.3f}", "{:.3f} ± {:.3f}"), strict=True):
            values = [r[key] for r in results]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(fmt.format(statistics.mean(values), spread) + f" ({', '.join(f'{v:.3g}' for v in values)})")
        seconds = statistics.mean(r["seconds"] for r in results)
        rows.append(f"| {method} | {' | '.join(cells)} | {len(results)} | {seconds:.0f} |")
    return "\n".join(rows)


@entry_point
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("logs/stabilisers"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iters", type=int, default=2000, help="generator iterations per run")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    args = parser.parse_args()
    for seed in args.seeds:  # seed-major: an interrupted sweep has every method at the seeds it reached
        for method in args.methods:
            if not (args.out / method / f"seed_{seed}.json").is_file():
                result = run(method, seed, args.iters, args.out)
                print(method, seed, {k: round(v, 4) for k, v in result.items() if k in METRICS}, flush=True)
    text = table(args.out, args.seeds)
    (args.out / "stabilisers.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
