"""Fig. 1 of the paper: what weight clipping does to a WGAN critic, and what the gradient penalty does not.

Not runs of the Lightning trainer: `python src/train.py experiment=toy_value_surfaces|toy_gradient_norms`
calls these functions through the config's `task` entry. Each method is an objective, a partial
`WGANClip` or `WGANGP` (the `methods` of conf/experiment/toy_*.yaml), so the figures train with the same
loss, penalty and clipping as every training run:
- weight clipping (WGAN, Arjovsky et al.): RMSProp lr 5e-5 (App. E), every critic parameter clamped to
  [-c, c] after each optimizer step;
- gradient penalty: Adam lr 1e-4, betas (0.5, 0.9) (App. E) and lambda = 0.1, the released toy code's
  value (gan_toy.py, "smaller lambda seems to help for toy tasks"); its FIXED_GENERATOR flag draws
  Fig. 1a. The paper's text uses lambda = 10 everywhere else; both are config fields;
- spectral normalisation (Fig. 1b only, not in the paper): the WGAN loss without clipping (`WGANClip` with
  clip_value None) on a critic whose every layer is spectrally normalised, the penalty's Adam.
"""

from __future__ import annotations

import copy
import csv
import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from wgangp.data.stream import Source, StepSampler
from wgangp.losses import wasserstein_critic_loss
from wgangp.nets.layers import spectral_normalize
from wgangp.nets.mlp import MLPCritic, MLPGenerator
from wgangp.objectives.base import GANObjective
from wgangp.objectives.engine import critic_step
from wgangp.penalties import input_gradient_norms
from wgangp.plots import save_layer_gradient_norms, save_value_surface_grid, save_weight_histograms
from wgangp.rng import EVAL, EVAL_DATA, NOISE, step_generator

log = logging.getLogger("wgangp")

# A method: objective class and its loss arguments bound (Hydra `_partial_: true`); called with the nets.
Method = Callable[..., GANObjective]


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


def toy_generator(latent_dim: int, width: int, layers: int) -> MLPGenerator:
    """z (N, latent_dim) -> points (N, 2): `layers` linear layers (layers - 1 hidden ReLU layers), He init."""
    return he_init_(MLPGenerator((2,), latent_dim=latent_dim, width=width, hidden_layers=layers - 1, tanh=False))


def toy_critic(width: int, layers: int, spectral_norm: bool = False) -> MLPCritic:
    """points (N, 2) -> scores (N,): `layers` linear layers, no normalisation, He init, then spectral
    normalisation of every layer when `spectral_norm`; `.net` is the nn.Sequential of its layers."""
    critic = he_init_(MLPCritic((2,), width=width, hidden_layers=layers - 1))
    return spectral_normalize(critic) if spectral_norm else critic


def _run_dir(cfg: DictConfig) -> Path:
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    return out


# ---- Fig. 1a ---------------------------------------------------------------------------------------------
def value_surfaces(
    cfg: DictConfig,
    distributions: dict[str, Source],
    methods: dict[str, Method],
    critic_iters: int = 2000,
    batch_size: int = 256,
    width: int = 512,
    layers: int = 4,
    noise_std: float = 1.0,
    num_points: int = 500,
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
            critic = toy_critic(width, layers)
            # No generator: the fakes are the real batch plus noise (gan_toy.py FIXED_GENERATOR), so this
            # loop draws them and the objective takes its own critic steps on them.
            objective = method(generator=nn.Identity(), critic=critic, n_critic=1, seed=cfg.seed)
            opt = objective.optimizer_factory(critic.parameters())
            rng = torch.Generator().manual_seed(cfg.seed * 1000 + d_index)  # same data for every method
            for _ in range(critic_iters):
                real = dist.sample(batch_size, rng)["real"]  # (m, 2)
                fake = real + noise_std * torch.randn(real.shape, generator=rng)  # the fixed 'generator'
                critic_step(objective, real, fake, opt, rng)  # Eq. 3 / the clipped WGAN's, then clipping
            real = dist.sample(num_points, rng)["real"]
            fake = real + noise_std * torch.randn(real.shape, generator=rng)
            with torch.no_grad():
                w = float(critic(real).mean() - critic(fake).mean())
            norms = input_gradient_norms(critic, torch.cat([real, fake])).detach()  # (2 * num_points,)
            results[f"{mname} / {dname}"] = {
                "w_estimate": w,
                "grad_norm_mean": float(norms.mean()),
                "seconds": time.perf_counter() - t0,
            }
            log.info(
                "Fig. 1a %s / %s: W estimate %.3f, mean ||grad D|| %.3f (%.0f s)",
                mname,
                dname,
                w,
                float(norms.mean()),
                time.perf_counter() - t0,
            )
            panels[(mname, dname)] = (critic, real, None)
    save_value_surface_grid(out / "value_surfaces.png", panels, extent)
    (out / "value_surfaces.json").write_text(json.dumps(results, indent=2))
    return results


# ---- Fig. 1b ---------------------------------------------------------------------------------------------
def layer_gradient_norms(critic: nn.Sequential, real: Tensor, fake: Tensor) -> Tensor:
    """Norms of the gradient of the critic loss E[D(fake)] - E[D(real)] with respect to the output of each
    linear layer of `critic` (first to last), over the whole batch; real, fake (m, D); returns (layers,).

    Computed on a float64 copy: with c = 0.001 the norms at the first layers (~1e-40) underflow fp32. The
    copy is in eval mode: a spectrally normalised layer uses its trained power-iteration vectors as they are.
    """
    critic = copy.deepcopy(critic).double().eval()
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
    cfg: DictConfig,
    distribution: Source,
    methods: dict[str, Method],
    generator_iters: int = 200,
    n_critic: int = 5,
    batch_size: int = 64,
    width: int = 512,
    layers: int = 12,
    latent_dim: int = 2,
    log_every: int = 10,
    average_last: int = 5,
    spectral_norm_methods: Sequence[str] = (),
) -> dict[str, list[float]]:
    """Fig. 1b: WGANs with `layers`-layer ReLU MLP generator and critic (Sec. 3.2), one per method; the
    critics of `spectral_norm_methods` (method names) are spectrally normalised.

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
            generator = toy_generator(latent_dim, width, layers)
            critic = toy_critic(width, layers, spectral_norm=mname in spectral_norm_methods)
            objective = method(generator=generator, critic=critic, n_critic=n_critic, seed=cfg.seed)
            opt_g, opt_d = objective.configure_optimizers()
            objective.after_critic_step()  # the constraint holds from the start (clipping; a no-op for the penalty)
            # real batches and noise keyed by (seed, generator iteration): the same for every method
            real_batches = StepSampler(distribution, seed=cfg.seed, batches=n_critic, batch_size=batch_size)
            rows = []
            for it in range(1, generator_iters + 1):
                real = real_batches(it - 1)["real"]  # (n_critic, m, 2): one fresh batch per critic step
                objective.train_iteration(real, opt_g, opt_d, step_generator(cfg.seed, it - 1, NOISE))  # Alg. 1
                if it % log_every == 0 or it == generator_iters:
                    real = distribution.sample(batch_size, step_generator(cfg.seed, it, EVAL_DATA))["real"]
                    z = torch.randn(batch_size, latent_dim, generator=step_generator(cfg.seed, it, EVAL))
                    with torch.no_grad():
                        fake = generator(z)
                    norms = layer_gradient_norms(critic.net, real, fake)  # (layers,)
                    rows.append(norms)
                    writer.writerow([mname, it, *[f"{v:.6g}" for v in norms.tolist()]])
                    f.flush()  # the CSV can be watched while it runs
            last = torch.stack(rows[-average_last:])  # (k, layers)
            curves[mname] = last.clamp_min(1e-300).log().mean(0).exp().tolist()  # geometric mean
            # the weights the critic computes with (W / sigma(W) under spectral normalisation)
            weights[mname] = torch.cat(
                [m.weight.detach().flatten() for m in critic.modules() if isinstance(m, nn.Linear)]
            )
            clips[mname] = getattr(objective, "clip_value", None)
            log.info(
                "Fig. 1b %s: gradient norm layer 1 %.3g, layer %d %.3g (%.0f s)",
                mname,
                curves[mname][0],
                layers,
                curves[mname][-1],
                time.perf_counter() - t0,
            )
    save_layer_gradient_norms(out / "gradient_norms.png", curves)
    save_weight_histograms(out / "weight_histograms.png", weights, clips)
    (out / "gradient_norms.json").write_text(json.dumps(curves, indent=2))
    return curves
