"""Fig. 1 of the paper: what weight clipping does to a WGAN critic, and what the gradient penalty does not.

Not GAN training runs of the Lightning loop, so plain loops over the pure functions in wgangp.losses
and wgangp.penalties; `python src/train.py experiment=toy_value_surfaces|toy_gradient_norms` calls
them through the config's `task` entry.

A method is a dict {"optimizer": partial optimizer, "clip": c or None, "gp_weight": lambda}:
- weight clipping (WGAN, Arjovsky et al.): RMSProp lr 5e-5 (App. E), every critic parameter clamped to
  [-c, c] after each optimizer step;
- gradient penalty: Adam lr 1e-4, betas (0.5, 0.9) (App. E) and lambda = 0.1, the released toy code's
  value (gan_toy.py, "smaller lambda seems to help for toy tasks"); its FIXED_GENERATOR flag draws
  Fig. 1a. The paper's text uses lambda = 10 everywhere else; both are config fields.
"""

from __future__ import annotations

import copy
import csv
import json
import logging
import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from wgangp.losses import wasserstein_critic_loss, wasserstein_generator_loss
from wgangp.nets.mlp import relu_mlp
from wgangp.objectives.base import frozen
from wgangp.penalties import gradient_penalty, input_gradient_norms
from wgangp.plots import save_layer_gradient_norms, save_value_surface_grid, save_weight_histograms

log = logging.getLogger("wgangp")


def he_init_(net: nn.Module) -> nn.Module:
    """He-uniform weights, zero biases: the released code's ReLU layers (tflib `initialization='he'`).

    With He init every ReLU layer keeps the backward signal's scale (factor ~1 per layer), so any
    growth or decay with depth in Fig. 1b comes from the constraint, not the initialisation.
    """
    for m in net.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return net


def toy_mlp(in_dim: int, out_dim: int, width: int, layers: int) -> nn.Sequential:
    """A `layers`-layer ReLU MLP (layers - 1 hidden ReLU layers, then a linear output), no normalisation."""
    return he_init_(relu_mlp(in_dim, out_dim, width, hidden_layers=layers - 1))


@torch.no_grad()
def clip_weights_(module: nn.Module, c: float) -> None:
    """WGAN weight clipping: clamp every parameter of `module` to [-c, c] in place."""
    for p in module.parameters():
        p.clamp_(-c, c)


def critic_step(critic: nn.Module, opt: torch.optim.Optimizer, real: Tensor, fake: Tensor, method: dict,
                rng: torch.Generator) -> float:
    """One critic update of Eq. 3 (gp_weight > 0) or of the clipped WGAN (clip set); returns the loss.

    real, fake: (m, 2). Scores are squeezed to (m,).
    """
    score = lambda x: critic(x).squeeze(1)
    loss = wasserstein_critic_loss(score(real), score(fake))
    if method.get("gp_weight"):
        eps = torch.rand(real.size(0), generator=rng)  # Alg. 1 l.4: one epsilon per sample
        loss = loss + method["gp_weight"] * gradient_penalty(score, real, fake, eps)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if method.get("clip") is not None:
        clip_weights_(critic, method["clip"])
    return float(loss.detach())


def _run_dir(cfg: DictConfig) -> Path:
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    return out


# ---- Fig. 1a ---------------------------------------------------------------------------------------------
def value_surfaces(
    cfg: DictConfig, distributions: dict[str, Any], methods: dict[str, dict], critic_iters: int = 2000,
    batch_size: int = 256, width: int = 512, layers: int = 4, noise_std: float = 1.0, num_points: int = 500,
    extent: float = 3.0,
) -> dict[str, dict[str, float]]:
    """Fig. 1a: critics trained towards optimality with the 'generator' held fixed at the real data plus
    N(0, noise_std^2) noise (Sec. 3.1), one per method and distribution; writes `value_surfaces.png`
    (rows: methods, columns: distributions) and `value_surfaces.json` into the run directory.

    The critics are the toy experiments' ReLU MLPs (`layers` linear layers, `width` wide, as gan_toy.py:
    3 hidden layers of 512). Returns per panel the final W estimate E[D(real)] - E[D(fake)] and the
    mean input-gradient norm on real and fake points (about 1 for an optimal critic, Cor. 1).
    """
    out = _run_dir(cfg)
    panels, results = {}, {}
    for d_index, (dname, dist) in enumerate(distributions.items()):
        for mname, method in methods.items():
            t0 = time.perf_counter()
            torch.manual_seed(cfg.seed)  # the same initial critic for every method
            critic = toy_mlp(2, 1, width, layers)
            opt = method["optimizer"](critic.parameters())
            rng = torch.Generator().manual_seed(cfg.seed * 1000 + d_index)  # same data for every method
            for _ in range(critic_iters):
                real = dist.sample(batch_size, rng)["real"]  # (m, 2)
                fake = real + noise_std * torch.randn(real.shape, generator=rng)  # the fixed 'generator'
                critic_step(critic, opt, real, fake, method, rng)
            real = dist.sample(num_points, rng)["real"]
            fake = real + noise_std * torch.randn(real.shape, generator=rng)
            score = lambda x, critic=critic: critic(x).squeeze(1)
            with torch.no_grad():
                w = float(score(real).mean() - score(fake).mean())
            norms = input_gradient_norms(score, torch.cat([real, fake])).detach()  # (2 * num_points,)
            results[f"{mname} / {dname}"] = {"w_estimate": w, "grad_norm_mean": float(norms.mean()),
                                             "seconds": time.perf_counter() - t0}
            log.info("Fig. 1a %s / %s: W estimate %.3f, mean ||grad D|| %.3f (%.0f s)", mname, dname, w,
                     float(norms.mean()), time.perf_counter() - t0)
            panels[(mname, dname)] = (lambda x, critic=critic: critic(x).squeeze(1), real, None)
    save_value_surface_grid(out / "value_surfaces.png", panels, extent)
    (out / "value_surfaces.json").write_text(json.dumps(results, indent=2))
    return results


# ---- Fig. 1b ---------------------------------------------------------------------------------------------
def layer_gradient_norms(critic: nn.Sequential, real: Tensor, fake: Tensor) -> Tensor:
    """Norms of the gradient of the critic loss E[D(fake)] - E[D(real)] with respect to the output of each
    linear layer of `critic` (first to last), over the whole batch; real, fake (m, D); returns (layers,).

    Computed on a float64 copy: with c = 0.001 the norms at the first layers (~1e-40) underflow fp32.
    """
    critic = copy.deepcopy(critic).double()
    h = torch.cat([real, fake]).double()  # (2m, D): no normalisation, so one forward serves both sets
    activations = []
    for layer in critic:
        h = layer(h)
        if isinstance(layer, nn.Linear):
            activations.append(h)  # (2m, width), the last (2m, 1)
    scores = h.squeeze(1)
    loss = wasserstein_critic_loss(scores[: real.size(0)], scores[real.size(0) :])
    grads = torch.autograd.grad(loss, activations)
    return torch.stack([g.norm() for g in grads]).detach()


def gradient_norms(
    cfg: DictConfig, distribution: Any, methods: dict[str, dict], generator_iters: int = 200, n_critic: int = 5,
    batch_size: int = 64, width: int = 512, layers: int = 12, latent_dim: int = 2, log_every: int = 10,
    average_last: int = 5,
) -> dict[str, list[float]]:
    """Fig. 1b: WGANs with `layers`-layer ReLU MLP generator and critic (Sec. 3.2), one per method.

    Every `log_every` generator iterations the per-layer gradient norms of the critic loss (on a fresh
    batch) go to `gradient_norms.csv`; `gradient_norms.png` plots, per method, the geometric mean of the
    last `average_last` logged rows against layer depth on a log scale; `weight_histograms.png` shows the
    final critic weights. Returns those plotted norms (first layer first).
    """
    out = _run_dir(cfg)
    curves, weights, clips = {}, {}, {}
    with open(out / "gradient_norms.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["method", "generator_iter", *[f"layer_{i}" for i in range(1, layers + 1)]])
        for mname, method in methods.items():
            t0 = time.perf_counter()
            torch.manual_seed(cfg.seed)  # same initial nets for every method
            generator, critic = toy_mlp(latent_dim, 2, width, layers), toy_mlp(2, 1, width, layers)
            opt_g, opt_d = method["optimizer"](generator.parameters()), method["optimizer"](critic.parameters())
            if method.get("clip") is not None:
                clip_weights_(critic, method["clip"])  # the constraint holds from the start
            rng = torch.Generator().manual_seed(cfg.seed)  # same data and z for every method
            rows = []
            for it in range(1, generator_iters + 1):
                for _ in range(n_critic):  # Alg. 1 l.2-10
                    real = distribution.sample(batch_size, rng)["real"]  # (m, 2)
                    with torch.no_grad():
                        fake = generator(torch.randn(batch_size, latent_dim, generator=rng))
                    critic_step(critic, opt_d, real, fake, method, rng)
                with frozen(critic):  # Alg. 1 l.11-12
                    g_loss = wasserstein_generator_loss(
                        critic(generator(torch.randn(batch_size, latent_dim, generator=rng))).squeeze(1)
                    )
                opt_g.zero_grad(set_to_none=True)
                g_loss.backward()
                opt_g.step()
                if it % log_every == 0 or it == generator_iters:
                    real = distribution.sample(batch_size, rng)["real"]
                    with torch.no_grad():
                        fake = generator(torch.randn(batch_size, latent_dim, generator=rng))
                    norms = layer_gradient_norms(critic, real, fake)  # (layers,)
                    rows.append(norms)
                    writer.writerow([mname, it, *[f"{v:.6g}" for v in norms.tolist()]])
                    f.flush()  # the CSV can be watched while it runs
            last = torch.stack(rows[-average_last:])  # (k, layers)
            curves[mname] = last.clamp_min(1e-300).log().mean(0).exp().tolist()  # geometric mean
            weights[mname] = torch.cat([m.weight.flatten() for m in critic.modules() if isinstance(m, nn.Linear)])
            clips[mname] = method.get("clip")
            log.info("Fig. 1b %s: gradient norm layer 1 %.3g, layer %d %.3g (%.0f s)", mname, curves[mname][0],
                     layers, curves[mname][-1], time.perf_counter() - t0)
    save_layer_gradient_norms(out / "gradient_norms.png", curves)
    save_weight_histograms(out / "weight_histograms.png", weights, clips)
    (out / "gradient_norms.json").write_text(json.dumps(curves, indent=2))
    return curves
