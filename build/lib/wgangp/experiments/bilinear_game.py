"""The lecture notes' bilinear game min_x max_y f(x, y) = x y from (x0, y0) = (1, 0) (
"Non convergence of GAN training"), played by each update rule of wgangp.objectives.updates, the same
functions that train the GANs (`objective.update`), each player with plain SGD at learning rate eta.

Per step, with z = (x, y) and eta the learning rate, the distance to the saddle point (0, 0) is multiplied by
- simultaneous: sqrt(1 + eta^2) (the notes' matrix A = [[1, -eta], [eta, 1]], eigenvalues 1 +- i eta): it spirals out;
- extragradient: sqrt(1 - eta^2 + eta^4) < 1 (A = [[1 - eta^2, -eta], [eta, 1 - eta^2]]): it converges;
- alternating (x first, then y at the new x): a map of determinant 1, so it orbits on a closed curve;
- optimistic: converges for small eta (Daskalakis et al. 2018).

`python src/train.py experiment=bilinear_game` writes `bilinear_game.csv` (rule, step, x, y, distance),
`bilinear_game.png` (trajectories and distance per step) and `bilinear_game.json` (the final distances).
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from omegaconf import DictConfig
from torch import Tensor

from wgangp.objectives.updates import RULES, Player
from wgangp.plots import save_figure

log = logging.getLogger("wgangp")


def play(rule: str, lr: float, steps: int, start: Sequence[float] = (1.0, 0.0)) -> Tensor:
    """The points (x_t, y_t), t = 0..steps, shape (steps + 1, 2), of `rule` on f(x, y) = x y (float64)."""
    x = torch.tensor([float(start[0])], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([float(start[1])], dtype=torch.float64, requires_grad=True)
    players = [Player(torch.optim.SGD([x], lr=lr)), Player(torch.optim.SGD([y], lr=lr))]

    def gradients() -> list[list[Tensor]]:
        df_dx, df_dy = torch.autograd.grad((x * y).sum(), [x, y])
        return [[df_dx], [-df_dy]]  # x descends f, y ascends it (descends -f)

    path = [torch.cat([x, y]).detach().clone()]
    for _ in range(steps):
        RULES[rule](players, gradients)
        path.append(torch.cat([x, y]).detach().clone())
    return torch.stack(path)


def bilinear_game(
    cfg: DictConfig,
    rules: Sequence[str] = ("alternating", "simultaneous", "extragradient", "optimistic"),
    lr: float = 0.1,
    steps: int = 100,
    start: Sequence[float] = (1.0, 0.0),
) -> dict[str, float]:
    """Play the game under each rule; write the CSV, the PNG and the JSON into the run directory; return the
    distance to (0, 0) after `steps` steps per rule."""
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {rule: play(rule, lr, steps, start) for rule in rules}
    with open(out / "bilinear_game.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["rule", "step", "x", "y", "distance"])
        for rule, path in paths.items():
            for t, (px, py) in enumerate(path.tolist()):
                writer.writerow([rule, t, f"{px:.10g}", f"{py:.10g}", f"{(px * px + py * py) ** 0.5:.10g}"])
    fig, (ax_path, ax_dist) = plt.subplots(1, 2, figsize=(10, 4.5))
    for rule, path in paths.items():
        ax_path.plot(path[:, 0], path[:, 1], lw=1, label=rule)
        ax_dist.plot(range(len(path)), path.norm(dim=1), lw=1.2, label=rule)
    ax_path.plot([start[0]], [start[1]], "ko", ms=4)
    ax_path.plot([0], [0], "k+", ms=10)
    title = f"trajectories from {tuple(start)}, eta = {lr}"
    ax_path.set(xlabel="x (minimises xy)", ylabel="y (maximises xy)", title=title)
    ax_path.set_aspect("equal")
    ax_path.legend(fontsize=8)
    ax_dist.set(xlabel="step", ylabel="distance to (0, 0)", yscale="log", title="distance to the saddle point")
    save_figure(fig, out / "bilinear_game.png")
    final = {rule: float(path[-1].norm()) for rule, path in paths.items()}
    (out / "bilinear_game.json").write_text(json.dumps({"lr": lr, "steps": steps, "distance": final}, indent=2))
    for rule, d in final.items():
        log.info("bilinear game, %s: distance to (0, 0) after %d steps %.4f", rule, steps, d)
    return final
