"""Algorithm 1's loop: step counts, who moves when, fresh data and noise per critic step."""

from functools import partial

import torch

from wgangp.nets.mlp import MLPCritic, MLPGenerator
from wgangp.objectives.engine import critic_terms
from wgangp.objectives.step import Step
from wgangp.objectives.wgan_gp import WGANGP
from wgangp.rng import step_generator


def make_objective(n_critic=5, **kwargs):
    torch.manual_seed(0)
    return WGANGP(
        generator=MLPGenerator((2,), latent_dim=2, width=16, tanh=False),
        critic=MLPCritic((2,), width=16),
        optimizer=partial(torch.optim.Adam, lr=1e-3, betas=(0.0, 0.9)),
        n_critic=n_critic,
        **kwargs,
    )


def snapshot(module):
    return [p.detach().clone() for p in module.parameters()]


def moved(before, module):
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True))


def test_critic_steps_n_critic_times_and_generator_moves_only_on_its_step():
    obj = make_objective(n_critic=5)
    opt_g, opt_d = obj.configure_optimizers()
    events = []
    g_before = snapshot(obj.generator)

    def record_critic_step(*_):
        events.append(("critic", moved(g_before, obj.generator)))

    def record_generator_step(*_):
        events.append(("generator", None))

    opt_d.register_step_post_hook(record_critic_step)
    opt_g.register_step_post_hook(record_generator_step)
    d_before = snapshot(obj.critic)
    obj.train_iteration(torch.randn(5, 8, 2), opt_g, opt_d, step_generator(0, 0, 1))

    assert [e[0] for e in events] == ["critic"] * 5 + ["generator"]
    assert not any(e[1] for e in events if e[0] == "critic")  # generator untouched by critic steps
    assert moved(g_before, obj.generator) and moved(d_before, obj.critic)


def test_generator_step_leaves_the_critic_and_its_gradients_unchanged():
    obj = make_objective(n_critic=1)
    opt_g, opt_d = obj.configure_optimizers()
    seen = {}
    opt_d.register_step_post_hook(lambda *_: seen.update(after_critic=snapshot(obj.critic), grads=grads(obj.critic)))
    opt_g.register_step_pre_hook(lambda *_: seen.update(at_generator=snapshot(obj.critic), grads_g=grads(obj.critic)))
    obj.train_iteration(torch.randn(1, 8, 2), opt_g, opt_d, step_generator(0, 0, 1))
    # the generator's backward added nothing to the critic's gradients (frozen), nor moved it
    assert all(torch.equal(a, b) for a, b in zip(seen["grads"], seen["grads_g"], strict=True))
    assert all(torch.equal(a, b) for a, b in zip(seen["after_critic"], seen["at_generator"], strict=True))
    assert all(p.requires_grad for p in obj.critic.parameters())  # unfrozen afterwards


def grads(module):
    return [p.grad.clone() for p in module.parameters()]


def test_each_critic_step_gets_its_own_real_batch_fresh_z_and_eps():
    obj = make_objective(n_critic=3)
    opt_g, opt_d = obj.configure_optimizers()
    calls = []
    original = obj.critic_loss

    def spy(s):
        calls.append((s.real.clone(), s.fake.clone()))
        return original(s)

    obj.critic_loss = spy
    eps_draws = []
    sample_uniform = obj.sample_uniform
    obj.sample_uniform = lambda n, rng: eps_draws.append(sample_uniform(n, rng)) or eps_draws[-1]
    real = torch.randn(3, 8, 2)
    obj.train_iteration(real, opt_g, opt_d, step_generator(0, 0, 1))
    assert len(calls) == 3
    for t, (r, _) in enumerate(calls):
        assert torch.equal(r, real[t])
    fakes = [f for _, f in calls]
    assert not torch.equal(fakes[0], fakes[1]) and not torch.equal(fakes[1], fakes[2])
    assert len(eps_draws) == 3 and not torch.equal(eps_draws[0], eps_draws[1])
    assert all(e.shape == (8,) for e in eps_draws)


def test_iteration_is_a_pure_function_of_weights_data_and_step_seed():
    runs = []
    for _ in range(2):
        obj = make_objective(n_critic=2)
        opt_g, opt_d = obj.configure_optimizers()
        obj.train_iteration(torch.ones(2, 4, 2), opt_g, opt_d, step_generator(7, 3, 1))
        runs.append(snapshot(obj.generator) + snapshot(obj.critic))
    assert all(torch.equal(a, b) for a, b in zip(*runs, strict=True))


def test_critic_loss_terms_match_equation_3():
    obj = make_objective()
    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    terms = critic_terms(obj, real, fake, step_generator(0, 0, 1))
    w = obj.critic(real).mean() - obj.critic(fake).mean()
    torch.testing.assert_close(terms["w_estimate"], w)
    torch.testing.assert_close(terms["critic_loss"], -w + obj.gp_weight * terms["gradient_penalty"])


class _BatchNormCritic(torch.nn.Module):
    """Scores that depend on the batch (batch norm in train mode), and a record of the batch sizes seen."""

    def __init__(self):
        super().__init__()
        self.norm = torch.nn.BatchNorm1d(2)
        self.batches = []

    def forward(self, x):
        self.batches.append(x.size(0))
        return self.norm(x).sum(1)


def test_a_penalised_critic_scores_real_and_fake_in_one_forward_and_any_other_in_two():
    obj = make_objective()
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    calls = []
    handle = obj.critic.register_forward_hook(lambda m, args, out: calls.append(args[0].size(0)))
    s = Step(obj, real, fake, None, step_generator(0, 0, 1), of_critic=True)
    d_real, d_fake = s.d_real, s.d_fake
    handle.remove()
    assert calls == [16]  # one forward over cat([real, fake])
    torch.testing.assert_close(d_real, obj.critic(real))  # the same per-sample scores as two forwards
    torch.testing.assert_close(d_fake, obj.critic(fake))

    # an unpenalised objective's critic may hold batch norm: real and fake keep their own statistics
    obj.uses_gradient_penalty = obj.joint_critic_forward = False
    obj.critic = _BatchNormCritic()
    s = Step(obj, real, fake, None, step_generator(0, 0, 1), of_critic=True)
    d_real, d_fake = s.d_real, s.d_fake
    assert obj.critic.batches == [8, 8]
    torch.testing.assert_close(d_real, torch.nn.functional.batch_norm(real, None, None, training=True).sum(1))
