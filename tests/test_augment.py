"""DiffAugment's transforms against their closed forms, their draws and gradients, and ADA's controller of p."""

import pytest
import torch

from wgangp.augment import (
    DEFAULT_POLICY,
    AdaptiveAugment,
    apply_augment,
    augment,
    brightness,
    contrast,
    cutout,
    draw_augment,
    parse_policy,
    saturation,
    translate,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(n=4, c=3, h=8, w=8, dtype=torch.float32, seed=123):
    return torch.randn(n, c, h, w, generator=gen(seed), dtype=dtype)


# ---- policy and draws -------------------------------------------------------------------------------------------


def test_policy_names_expand_in_order_and_unknown_names_are_refused():
    expected = ("brightness", "saturation", "contrast", "translation", "cutout")
    assert parse_policy(DEFAULT_POLICY) == expected
    assert parse_policy(("color", "translation", "cutout")) == expected
    assert parse_policy(" cutout , color") == ("cutout", "brightness", "saturation", "contrast")
    assert parse_policy("") == parse_policy(()) == ()
    with pytest.raises(ValueError, match="rotation"):
        parse_policy("color,rotation")


def test_an_empty_policy_is_the_identity():
    x = images()
    assert torch.equal(augment(x, "", gen()), x)


def test_draws_cover_the_papers_ranges():
    # Zhao et al. 2020, Sec. 3: brightness [-0.5, 0.5], saturation [0, 2], contrast [0.5, 1.5],
    # translation up to 1/8 of the image (4 px at 32), cutout squares of half the image (16 px at 32)
    d = draw_augment(DEFAULT_POLICY, 4096, 32, 32, gen())
    b, s, c = d.params["brightness"], d.params["saturation"], d.params["contrast"]
    assert -0.5 <= b.min() < -0.49 and 0.49 < b.max() < 0.5
    assert 0 <= s.min() < 0.01 and 1.99 < s.max() < 2
    assert 0.5 <= c.min() < 0.51 and 1.49 < c.max() < 1.5
    shift = d.params["translation"]
    assert shift.shape == (4096, 2) and set(shift.unique().tolist()) == set(range(-4, 5))
    box = d.params["cutout"]
    assert (box[:, 2] - box[:, 0] == 16).all() and (box[:, 3] - box[:, 1] == 16).all()
    centre = box[:, :2] + 8
    assert centre.min() == 0 and centre.max() == 32  # the centre is any pixel, or one past the last
    assert d.applied is None


def test_odd_and_non_square_sizes_round_the_ratios():
    d = draw_augment("translation,cutout", 2048, 28, 20, gen())
    dy, dx = d.params["translation"].unbind(1)
    assert dy.abs().max() == 4 and dx.abs().max() == 3  # round(28/8 = 3.5) = 4, round(20/8 = 2.5) = 3
    box = d.params["cutout"]
    assert (box[:, 2] - box[:, 0] == 14).all() and (box[:, 3] - box[:, 1] == 10).all()
    d = draw_augment("cutout", 2048, 5, 5, gen())  # side round(2.5) = 3, centre in [0, 4]: top in [-1, 3]
    assert d.params["cutout"][:, 0].min() == -1 and d.params["cutout"][:, 0].max() == 3


def test_same_generator_seed_redraws_identical_augmentations():
    x = images()
    for p in (None, 0.5):
        a = augment(x, DEFAULT_POLICY, gen(7), p=p)
        b = augment(x, DEFAULT_POLICY, gen(7), p=p)
        assert torch.equal(a, b)
        assert not torch.equal(a, augment(x, DEFAULT_POLICY, gen(8), p=p))


def test_augmenting_consumes_only_the_generator_it_is_given():
    x = images()
    torch.manual_seed(0)
    a = augment(x, DEFAULT_POLICY, gen(3))
    torch.manual_seed(1)  # the global stream does not enter
    assert torch.equal(a, augment(x, DEFAULT_POLICY, gen(3)))


def test_draws_do_not_depend_on_the_image_dtype():
    x = images(dtype=torch.float64)
    torch.testing.assert_close(
        augment(x.float(), DEFAULT_POLICY, gen(5)), augment(x, DEFAULT_POLICY, gen(5)).float(), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize(("c", "h", "w"), [(1, 28, 28), (3, 32, 32), (3, 12, 20)])
@pytest.mark.parametrize("p", [None, 0.5])
def test_shape_and_dtype_are_kept(dtype, c, h, w, p):
    x = images(5, c, h, w, dtype=dtype)
    y = augment(x, DEFAULT_POLICY, gen(), p=p)
    assert y.shape == x.shape and y.dtype == dtype and y.device == x.device


def test_a_non_image_tensor_is_refused():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        apply_augment(torch.zeros(4, 8), draw_augment("cutout", 4, 8, 8, gen()))


# ---- each transform against its closed form ---------------------------------------------------------------------


def test_translation_moves_pixels_by_the_drawn_shift_and_fills_zeros():
    x = torch.arange(2 * 2 * 5 * 6, dtype=torch.float32).view(2, 2, 5, 6) + 1  # no zero pixels of its own
    shift = torch.tensor([[1, -2], [-3, 4]])  # sample 0: down 1, left 2; sample 1: up 3, right 4
    y = translate(x, shift)
    for i, (dy, dx) in enumerate(shift.tolist()):
        for r in range(5):
            for c in range(6):
                src_r, src_c = r - dy, c - dx
                inside = 0 <= src_r < 5 and 0 <= src_c < 6
                expected = x[i, :, src_r, src_c] if inside else torch.zeros(2)
                assert torch.equal(y[i, :, r, c], expected), (i, r, c)
    assert (y == 0).sum() == 2 * ((5 * 6) - (5 - 1) * (6 - 2)) + 2 * ((5 * 6) - (5 - 3) * (6 - 4))


def test_translation_by_zero_is_the_identity_and_its_drawn_form_matches():
    x = images(3, 3, 8, 8)
    assert torch.equal(translate(x, torch.zeros(3, 2, dtype=torch.long)), x)
    d = draw_augment("translation", 3, 8, 8, gen(11))
    assert torch.equal(apply_augment(x, d), translate(x, d.params["translation"]))


def test_cutout_zeroes_a_square_of_half_the_side_a_quarter_of_the_image():
    x = torch.ones(3, 3, 32, 32)
    box = torch.tensor([[8, 4, 24, 20], [-8, -8, 8, 8], [24, 30, 40, 46]])  # inside; over a corner; over two edges
    y = cutout(x, box)
    zeroed = (y == 0).float().mean(dim=(1, 2, 3))
    torch.testing.assert_close(zeroed, torch.tensor([16 * 16, 8 * 8, 8 * 2], dtype=torch.float32) / (32 * 32))
    assert (y[0, :, 8:24, 4:20] == 0).all() and y[0].sum() == 3 * (32 * 32 - 16 * 16)


def test_drawn_cutout_zeroes_exactly_its_boxes_overlap_with_the_image():
    n = 256
    d = draw_augment("cutout", n, 32, 32, gen(2))
    y = apply_augment(torch.ones(n, 1, 32, 32), d)
    box = d.params["cutout"]
    rows = box[:, 2].clamp(max=32) - box[:, 0].clamp(min=0)
    cols = box[:, 3].clamp(max=32) - box[:, 1].clamp(min=0)
    assert torch.equal((y == 0).sum(dim=(1, 2, 3)), rows * cols)
    assert ((rows * cols) == 16 * 16).float().mean() > 0.2  # squares fully inside are common: the exact quarter
    assert (rows * cols >= 8 * 8).all()


def test_colour_maps_a_per_channel_constant_image_as_the_closed_form_says():
    # channel k constant a_k: brightness adds b; saturation keeps the channel mean m = mean(a) + b and scales
    # a_k - mean(a) by s; contrast keeps m (the mean over all pixels) and scales again by c:
    # out_k = mean(a) + b + s c (a_k - mean(a)).
    a = torch.tensor([0.2, -0.4, 0.8])
    x = a.view(1, 3, 1, 1).expand(5, 3, 4, 4).contiguous()
    d = draw_augment("color", 5, 4, 4, gen(9))
    y = apply_augment(x, d)
    b, s, c = (d.params[k].view(-1, 1) for k in ("brightness", "saturation", "contrast"))
    expected = a.mean() + b + s * c * (a - a.mean())  # (5, 3)
    torch.testing.assert_close(y, expected.view(5, 3, 1, 1).expand(5, 3, 4, 4))


def test_colour_on_a_constant_image_only_shifts_it_by_the_brightness():
    x = torch.full((4, 3, 6, 6), 0.3)
    d = draw_augment("color", 4, 6, 6, gen(4))
    torch.testing.assert_close(apply_augment(x, d), 0.3 + d.params["brightness"].view(-1, 1, 1, 1).expand_as(x))


def test_saturation_is_the_identity_on_one_channel():
    x = images(4, 1, 8, 8)
    assert torch.equal(saturation(x, torch.tensor([0.0, 0.5, 1.7, 2.0])), x)


def test_saturation_and_contrast_scale_deviations_from_the_per_sample_means():
    x = images(2, 3, 4, 4)
    s = torch.tensor([0.0, 2.0])
    y = saturation(x, s)
    torch.testing.assert_close(y[0], x[0].mean(0, keepdim=True).expand(3, 4, 4))  # s = 0: grey
    torch.testing.assert_close(y[1], 2 * x[1] - x[1].mean(0, keepdim=True))
    y = contrast(x, torch.tensor([0.5, 1.5]))
    torch.testing.assert_close(y[0], 0.5 * x[0] + 0.5 * x[0].mean())
    torch.testing.assert_close(y[1], 1.5 * x[1] - 0.5 * x[1].mean())
    torch.testing.assert_close(brightness(x, torch.tensor([0.25, -0.5]))[1], x[1] - 0.5)


# ---- per sample --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [None, 0.5])
def test_augmenting_a_batch_equals_augmenting_each_sample_with_its_row_of_draws(p):
    x = images(6, 3, 16, 16)
    d = draw_augment(DEFAULT_POLICY, 6, 16, 16, gen(1), p)
    batch = apply_augment(x, d)
    for i in range(6):
        torch.testing.assert_close(batch[i : i + 1], apply_augment(x[i : i + 1], d.rows(i)), rtol=0, atol=1e-6)
    # ... and the batch's result does not depend on its other samples
    other = x.clone()
    other[1:] = torch.randn(5, 3, 16, 16)
    torch.testing.assert_close(apply_augment(other, d)[0], batch[0], rtol=0, atol=1e-6)


# ---- ADA's per-sample probability ---------------------------------------------------------------------------------


def test_probability_zero_is_exactly_the_identity():
    x = images(8, 3, 16, 16)
    assert torch.equal(augment(x, DEFAULT_POLICY, gen(), p=0.0), x)
    assert torch.equal(augment(x, DEFAULT_POLICY, gen(), p=torch.tensor(0.0)), x)
    assert torch.equal(augment(x, DEFAULT_POLICY, gen(), p=AdaptiveAugment().p), x)


def test_probability_one_is_diffaugment_with_the_same_seed():
    x = images(8, 3, 16, 16)
    assert torch.equal(augment(x, DEFAULT_POLICY, gen(6), p=1.0), augment(x, DEFAULT_POLICY, gen(6)))


def test_each_transform_reaches_each_sample_with_probability_p():
    n = 2000
    d = draw_augment(DEFAULT_POLICY, n, 8, 8, gen(3), p=torch.tensor(0.3))
    rates = torch.stack([v.float().mean() for v in d.applied.values()])
    assert ((rates - 0.3).abs() < 0.04).all()  # binomial sd ~0.01
    # draws are independent across transforms: not the same samples every time
    assert not torch.equal(d.applied["brightness"], d.applied["cutout"])
    # a sample a transform skips keeps its value exactly; one it reaches changes (a cutout of ones always bites)
    d = draw_augment("cutout", 64, 8, 8, gen(3), p=0.5)
    y = apply_augment(torch.ones(64, 1, 8, 8), d)
    assert torch.equal((y == 0).flatten(1).any(1), d.applied["cutout"])


# ---- differentiability -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [None, 0.5])
def test_the_whole_pipeline_passes_gradcheck(p):
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64, generator=gen(0), requires_grad=True)
    d = draw_augment(DEFAULT_POLICY, 3, 8, 8, gen(1), p)
    assert torch.autograd.gradcheck(lambda t: apply_augment(t, d), (x,))


def test_gradcheck_on_one_channel():
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64, generator=gen(0), requires_grad=True)
    d = draw_augment(DEFAULT_POLICY, 2, 8, 8, gen(2))
    assert torch.autograd.gradcheck(lambda t: apply_augment(t, d), (x,))


def test_translation_gradient_is_the_inverse_shift_of_the_output_gradient():
    x = images(2, 3, 6, 6).requires_grad_(True)
    shift = torch.tensor([[2, -1], [0, 3]])
    g_out = torch.randn(2, 3, 6, 6, generator=gen(5))
    (g,) = torch.autograd.grad((translate(x, shift) * g_out).sum(), x)
    assert torch.equal(g, translate(g_out, -shift))  # the adjoint of a zero-filled shift: the opposite shift
    assert g.abs().sum() > 0


def test_cutout_gradient_is_the_output_gradient_masked():
    x = images(2, 3, 8, 8).requires_grad_(True)
    box = torch.tensor([[2, 2, 6, 6], [-2, 5, 2, 9]])
    g_out = torch.randn(2, 3, 8, 8, generator=gen(5))
    (g,) = torch.autograd.grad((cutout(x, box) * g_out).sum(), x)
    assert torch.equal(g, cutout(g_out, box))
    assert (g[0, :, 2:6, 2:6] == 0).all() and (g[0, :, :2] == g_out[0, :, :2]).all()


def test_gradients_reach_a_generator_through_the_augmentation():
    net = torch.nn.Linear(4, 3 * 8 * 8)
    fake = net(torch.randn(5, 4, generator=gen(0))).view(5, 3, 8, 8)
    augment(fake, DEFAULT_POLICY, gen(1)).sum().backward()
    assert net.weight.grad is not None and net.weight.grad.abs().sum() > 0


# ---- ADA's controller ---------------------------------------------------------------------------------------------


def logits(signs):
    return torch.tensor(signs, dtype=torch.float32) * 0.7  # only the signs count


def test_p_rises_by_exactly_one_step_per_interval_when_the_critic_is_sure_of_every_real():
    ada = AdaptiveAugment(ada_kimg=0.08)  # step = 8 * 4 / 80 = 0.4 for batches of 8
    for _ in range(3):
        ada.update(logits([1] * 8))
        assert ada.p == 0  # adjusted once per interval of 4 critic steps, not before
    ada.update(logits([1] * 8).view(8, 1))
    torch.testing.assert_close(ada.p, torch.tensor(0.4))
    torch.testing.assert_close(ada.rt, torch.tensor(1.0))
    for _ in range(4):
        ada.update(logits([1] * 8))
    torch.testing.assert_close(ada.p, torch.tensor(0.8))
    for _ in range(4):
        ada.update(logits([1] * 8))
    torch.testing.assert_close(ada.p, torch.tensor(1.0))  # clamped at 1


def test_p_falls_when_the_reals_are_mostly_rejected_and_is_clamped_at_zero():
    ada = AdaptiveAugment(ada_kimg=0.08, p=0.5)
    for _ in range(4):
        ada.update(logits([-1] * 6 + [1] * 2))  # r_t = -0.5
    torch.testing.assert_close(ada.rt, torch.tensor(-0.5))
    torch.testing.assert_close(ada.p, torch.tensor(0.1))
    for _ in range(4):
        ada.update(logits([-1] * 8))
    torch.testing.assert_close(ada.p, torch.tensor(0.0))


def test_the_threshold_is_the_target_not_zero():
    ada = AdaptiveAugment(ada_kimg=0.08, p=0.5)
    for _ in range(4):
        ada.update(logits([1] * 6 + [-1] * 2))  # r_t = 0.5 < 0.6: mostly accepted, yet p falls
    torch.testing.assert_close(ada.p, torch.tensor(0.1))
    for _ in range(4):
        ada.update(logits([1] * 7 + [-1] * 1))  # r_t = 0.75 > 0.6
    torch.testing.assert_close(ada.p, torch.tensor(0.5))


def test_the_default_step_is_batch_times_interval_over_500k_images():
    ada = AdaptiveAugment()
    for _ in range(4):
        ada.update(torch.ones(64))
    torch.testing.assert_close(ada.p, torch.tensor(64 * 4 / 500_000))


def test_state_dict_round_trip_resumes_mid_interval(tmp_path):
    ada = AdaptiveAugment(ada_kimg=0.08, p=0.2)
    ada.update(logits([1] * 8))
    ada.update(logits([1] * 8))
    path = tmp_path / "ada.pt"
    torch.save(ada.state_dict(), path)
    resumed = AdaptiveAugment(ada_kimg=0.08)
    resumed.load_state_dict(torch.load(path, weights_only=True))
    assert resumed.p.dtype == torch.float32
    torch.testing.assert_close(resumed.p, torch.tensor(0.2))
    for a in (ada, resumed):
        a.update(logits([1] * 8))
        a.update(logits([1] * 8))  # the fourth critic step of the interval, for both
    torch.testing.assert_close(resumed.p, torch.tensor(0.6))
    torch.testing.assert_close(resumed.p, ada.p)
    assert resumed.state_dict().keys() == ada.state_dict().keys() == {"p", "sign_sum", "count", "steps"}


def test_the_state_dict_is_a_copy():
    ada = AdaptiveAugment(p=0.3)
    state = ada.state_dict()
    state["p"].fill_(0.9)
    torch.testing.assert_close(ada.p, torch.tensor(0.3))


def test_bad_controller_settings_are_refused():
    with pytest.raises(ValueError, match="interval"):
        AdaptiveAugment(interval=0)
    with pytest.raises(ValueError, match="ada_kimg"):
        AdaptiveAugment(ada_kimg=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_cuda_draws_stay_on_the_device_and_a_cpu_generator_gives_the_cpu_result():
    x = images(4, 3, 16, 16)
    xc = x.cuda()
    y = augment(xc, DEFAULT_POLICY, torch.Generator(device="cuda").manual_seed(0), p=torch.tensor(0.5, device="cuda"))
    assert y.device == xc.device
    torch.testing.assert_close(augment(xc, DEFAULT_POLICY, gen(0)).cpu(), augment(x, DEFAULT_POLICY, gen(0)))
    ada = AdaptiveAugment(ada_kimg=0.08)
    for _ in range(4):
        ada.update(torch.ones(8, device="cuda"))
    assert ada.p.device == xc.device and ada.p.item() == pytest.approx(0.4)
