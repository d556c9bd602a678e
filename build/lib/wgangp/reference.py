"""Algorithm 1 as the popular PyTorch ports write it: the oracle the objectives' loop is checked against.

A plain loop over plain modules, no Lightning and nothing from wgangp.objectives, losses or penalties:
fake drawn under no_grad, separate critic forwards on real, fake and interpolates, the penalty through
autograd.grad(create_graph=True), the critic frozen by requires_grad during the generator step, and for
the original WGAN every critic weight clamped after each critic step. It draws z and epsilon from the
same per-step noise stream as `GANObjective.train_iteration` (wgangp.rng: (seed, generator iteration,
NOISE)) in the same order (per critic step z, then epsilon; then the generator step's z), and takes the
same real batches (n_critic, m, *data_shape), so from the same initial weights both reach the same
parameters (tests/test_reference_loop.py). scripts/bench.py times it as the baseline.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wgangp.rng import NOISE, step_generator

LOSSES = ("wasserstein", "gan")


class ReferenceLoop:
    """Generator iterations of Alg. 1 (WGAN-GP), of the clipped WGAN, or of the standard GAN.

    Args:
        generator: maps (m, generator.latent_dim) to (m, *data_shape).
        critic: maps (m, *data_shape) to (m,) or (m, 1) scores (logits for loss="gan").
        opt_g, opt_d: the two players' optimizers, built by the caller.
        n_critic: critic steps per generator iteration (Alg. 1 l.2).
        loss: "wasserstein" (E[D(fake)] - E[D(real)], generator -E[D(G(z))]) or "gan" (sigmoid
            cross-entropy on logits, the non-saturating generator loss).
        gp_weight: lambda of Eq. 3; 0 for no penalty.
        clip_value: c of the original WGAN (every critic weight clamped to [-c, c]); None for no clipping.
        seed: root of the per-step noise stream, the objective's `seed`.
    """

    def __init__(
        self,
        generator: nn.Module,
        critic: nn.Module,
        opt_g: torch.optim.Optimizer,
        opt_d: torch.optim.Optimizer,
        *,
        n_critic: int = 5,
        loss: str = "wasserstein",
        gp_weight: float = 0.0,
        clip_value: float | None = None,
        seed: int = 0,
    ) -> None:
        if loss not in LOSSES:
            raise ValueError(f"loss={loss!r}; choose one of {LOSSES}")
        self.G, self.D, self.opt_g, self.opt_d = generator, critic, opt_g, opt_d
        self.n_critic, self.loss, self.gp_weight, self.clip_value = int(n_critic), loss, float(gp_weight), clip_value
        self.seed = int(seed)
        self.iteration = 0  # completed generator iterations: the noise stream's step

    def critic_loss(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        if self.loss == "gan":
            return F.binary_cross_entropy_with_logits(
                d_real, torch.ones_like(d_real)
            ) + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
        return d_fake.mean() - d_real.mean()

    def generator_loss(self, d_fake: Tensor) -> Tensor:
        if self.loss == "gan":
            return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
        return -d_fake.mean()

    def step(self, real: Tensor) -> dict[str, Tensor]:
        """One generator iteration on real batches (n_critic, m, *data_shape); returns the critic loss
        averaged over the critic steps and the generator loss, detached."""
        G, D = self.G, self.D
        device, m = real.device, real.size(1)
        rng = step_generator(self.seed, self.iteration, NOISE, device)
        critic_losses = []
        for p in D.parameters():
            p.requires_grad_(True)
        for t in range(self.n_critic):  # Alg. 1 l.2
            z = torch.randn(m, G.latent_dim, generator=rng, device=device)  # l.4
            with torch.no_grad():
                fake = G(z)  # l.5
            d_loss = self.critic_loss(D(real[t]), D(fake))
            if self.gp_weight:
                eps = torch.rand(m, generator=rng, device=device).view(-1, *[1] * (real.dim() - 2))  # l.4
                x_hat = (eps * real[t] + (1 - eps) * fake).requires_grad_(True)  # l.6
                d_hat = D(x_hat)
                (grad,) = torch.autograd.grad(
                    d_hat, x_hat, grad_outputs=torch.ones_like(d_hat), create_graph=True, retain_graph=True
                )
                gp = ((grad.view(m, -1).norm(2, dim=1) - 1) ** 2).mean()
                d_loss = d_loss + self.gp_weight * gp  # l.7
            self.opt_d.zero_grad()
            d_loss.backward()
            self.opt_d.step()  # l.9
            if self.clip_value is not None:
                for p in D.parameters():
                    p.data.clamp_(-self.clip_value, self.clip_value)
            critic_losses.append(d_loss.detach())
        for p in D.parameters():
            p.requires_grad_(False)
        z = torch.randn(m, G.latent_dim, generator=rng, device=device)  # l.11
        g_loss = self.generator_loss(D(G(z)))
        self.opt_g.zero_grad()
        g_loss.backward()
        self.opt_g.step()  # l.12
        for p in D.parameters():
            p.requires_grad_(True)
        self.iteration += 1
        return {"critic_loss": torch.stack(critic_losses).mean(), "generator_loss": g_loss.detach()}
