"""Resume refuses what it cannot honour and trains with what it records.

A checkpoint continues only the run it came from: every field of the config except the allow-list
wgangp.resume.RESUMABLE must match its stored run_config, and every difference is named. Optimizer
hyperparameters are resumable: the configured ones are applied to the restored optimizer state.
"""

import logging

import pytest
import torch
from omegaconf import OmegaConf

from conftest import TINY, run_cli
from wgangp.data.writers import labelled_images, write_mnist
from wgangp.errors import UserInputError
from wgangp.train import train


def _load(path):
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def toy_checkpoint(tmp_path_factory):
    from wgangp.build import compose_config

    run = tmp_path_factory.mktemp("toy")
    train(compose_config(run, [*TINY, "generator_iters=2"]))
    return run / "checkpoints/last.ckpt"


def test_8gaussians_checkpoint_under_25gaussians_is_refused_naming_the_difference(toy_checkpoint, tmp_path):
    out = run_cli(
        "train.py",
        *TINY,
        "data=25gaussians",
        "model.critic.width=64",
        f"ckpt_path={toy_checkpoint}",
        f"hydra.run.dir={tmp_path / 'b'}",
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert (
        "data.distribution._target_: 'wgangp.data.toy.EightGaussians' (checkpoint) vs "
        "'wgangp.data.toy.TwentyFiveGaussians' (this run)"
    ) in out.stderr
    assert "model.critic.width: 32 (checkpoint) vs 64 (this run)" in out.stderr  # each difference listed
    assert not (tmp_path / "b/checkpoints").exists()


def test_every_defining_field_is_compared(tiny_config, toy_checkpoint, tmp_path):
    for override, named in [
        ("seed=3", "seed: 0 (checkpoint) vs 3"),
        ("objective.gp_weight=1", "objective.gp_weight"),
        ("objective.n_critic=2", "objective.n_critic: 5 (checkpoint) vs 2"),
        ("model.generator.latent_dim=4", "model.generator.latent_dim"),
        ("data.batch_size=8", "data.batch_size: 16 (checkpoint) vs 8"),
        ("objective=wgan_gp_one_sided", "objective.one_sided: False (checkpoint) vs True"),
        ("objective.optimizer._target_=torch.optim.AdamW", "objective.optimizer._target_"),
        ("objective.generator_batch_size=32", "objective.generator_batch_size: None (checkpoint) vs 32"),
        ("objective.generator_ema=0.999", "objective.generator_ema: None (checkpoint) vs 0.999"),
        ("objective.generator_ema_start=5", "objective.generator_ema_start: 0 (checkpoint) vs 5"),
    ]:
        with pytest.raises(UserInputError, match="different setup") as info:
            train(tiny_config(override, f"ckpt_path={toy_checkpoint}", run_dir=tmp_path / "r"))
        assert named in str(info.value), override


def test_mnist_checkpoint_under_fashion_mnist_is_refused(tiny_config, tmp_path):
    images = [labelled_images(n, 28, 28, 1, seed=s) for n, s in ((40, 1), (12, 2))]
    for folder in ("MNIST", "FashionMNIST"):  # the same idx bytes under both names
        write_mnist(tmp_path / "data" / folder / "raw", *[(x[..., 0], y) for x, y in images])
    common = ["model=mlp", "generator_iters=1", "data.download=false", f"data.root={tmp_path / 'data'}"]
    train(tiny_config("data=mnist", *common, run_dir=tmp_path / "mnist"))
    with pytest.raises(UserInputError) as info:
        train(
            tiny_config(
                "data=fashion_mnist",
                *common,
                "generator_iters=2",
                f"ckpt_path={tmp_path / 'mnist/checkpoints/last.ckpt'}",
                run_dir=tmp_path / "fashion",
            )
        )
    assert (
        "data.dataset_class: 'torchvision.datasets.MNIST' (checkpoint) vs 'torchvision.datasets.FashionMNIST' "
        "(this run)"
    ) in str(info.value)
    assert not (tmp_path / "fashion/checkpoints").exists()


def test_longer_run_and_new_intervals_are_accepted_and_logged(tiny_config, toy_checkpoint, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="wgangp"):
        train(
            tiny_config(
                "generator_iters=3",
                "trainer.log_every_n_steps=2",
                "callbacks.checkpoint.every_n_iters=3",
                "data.num_workers=0",
                f"ckpt_path={toy_checkpoint}",
                run_dir=tmp_path / "longer",
            )
        )
    assert _load(tmp_path / "longer/checkpoints/last.ckpt")["wgangp"]["generator_iter"] == 3
    changed = next(r.getMessage() for r in caplog.records if "resuming with changed settings" in r.getMessage())
    assert "generator_iters: 2 -> 3" in changed and "trainer.log_every_n_steps: 1 -> 2" in changed
    assert "callbacks.checkpoint.every_n_iters: 2 -> 3" in changed


def test_a_shorter_run_than_the_checkpoint_is_refused(tiny_config, toy_checkpoint, tmp_path):
    with pytest.raises(UserInputError, match="generator_iters=1 is below the 2 generator iterations"):
        train(tiny_config("generator_iters=1", f"ckpt_path={toy_checkpoint}", run_dir=tmp_path / "short"))


def test_a_changed_learning_rate_is_what_trains_and_what_is_recorded(tiny_config, toy_checkpoint, tmp_path, caplog):
    """objective.optimizer.lr=5e-4 on resume: param_groups hold 5e-4, and the weights move as 5e-4 moves them."""
    assert _load(toy_checkpoint)["optimizer_states"][0]["param_groups"][0]["lr"] == pytest.approx(1e-4)
    overrides = ["generator_iters=3", "objective.optimizer.lr=5e-4", "objective.optimizer.betas=[0.5,0.99]"]
    with caplog.at_level(logging.INFO, logger="wgangp"):
        train(tiny_config(*overrides, f"ckpt_path={toy_checkpoint}", run_dir=tmp_path / "resumed"))
    resumed = _load(tmp_path / "resumed/checkpoints/last.ckpt")
    assert resumed["wgangp"]["run_config"]["objective"]["optimizer"]["lr"] == 5e-4  # what is recorded
    for state in resumed["optimizer_states"]:  # what trained: the optimizers' own hyperparameters
        assert state["param_groups"][0]["lr"] == 5e-4 and list(state["param_groups"][0]["betas"]) == [0.5, 0.99]
    assert any("lr 0.0001 from the checkpoint -> 0.0005 as configured" in r.getMessage() for r in caplog.records)
    # and the step taken is 5e-4's: a fresh run with lr=5e-4 from the same state gives the same weights,
    # while one at the checkpoint's 1e-4 does not
    ref = _load(toy_checkpoint)
    for group_state in ref["optimizer_states"]:
        for group in group_state["param_groups"]:
            group["lr"], group["betas"] = 5e-4, (0.5, 0.99)
    patched = tmp_path / "patched.ckpt"
    torch.save(ref, patched)
    train(tiny_config(*overrides, f"ckpt_path={patched}", run_dir=tmp_path / "patched"))
    expected = _load(tmp_path / "patched/checkpoints/last.ckpt")["state_dict"]
    assert all(torch.equal(v, expected[k]) for k, v in resumed["state_dict"].items())
    train(tiny_config("generator_iters=3", f"ckpt_path={toy_checkpoint}", run_dir=tmp_path / "old_lr"))
    old = _load(tmp_path / "old_lr/checkpoints/last.ckpt")["state_dict"]
    assert any(not torch.equal(v, resumed["state_dict"][k]) for k, v in old.items())


def test_a_critic_weight_decay_removed_on_resume_is_removed_from_the_optimizer(tiny_config, tmp_path):
    """critic_weight_decay 1e-3 -> 0: the restored critic optimizer trains without decay, as recorded."""
    first = tmp_path / "decayed"
    train(tiny_config("generator_iters=2", "objective.critic_weight_decay=1e-3", run_dir=first))
    assert _load(first / "checkpoints/last.ckpt")["optimizer_states"][1]["param_groups"][0]["weight_decay"] == 1e-3
    ckpt = first / "checkpoints/last.ckpt"
    train(tiny_config("generator_iters=3", f"ckpt_path={ckpt}", run_dir=tmp_path / "resumed"))
    resumed = _load(tmp_path / "resumed/checkpoints/last.ckpt")
    assert resumed["wgangp"]["run_config"]["objective"]["critic_weight_decay"] == 0.0
    assert [s["param_groups"][0]["weight_decay"] for s in resumed["optimizer_states"]] == [0.0, 0.0]


def test_a_checkpoint_from_before_a_new_null_field_resumes_and_a_set_one_is_refused(
    tiny_config, toy_checkpoint, tmp_path
):
    old = _load(toy_checkpoint)
    del old["wgangp"]["run_config"]["objective"]["feature_layer"]  # a checkpoint written before the field existed
    path = tmp_path / "older.ckpt"
    torch.save(old, path)
    train(tiny_config("generator_iters=3", f"ckpt_path={path}", run_dir=tmp_path / "resumed"))
    assert _load(tmp_path / "resumed/checkpoints/last.ckpt")["wgangp"]["generator_iter"] == 3
    other = _load(toy_checkpoint)
    del other["wgangp"]["run_config"]["objective"]["generator_batch_size"]  # not a listed new field: compared
    torch.save(other, tmp_path / "other.ckpt")
    with pytest.raises(UserInputError, match=r"objective.generator_batch_size: \(absent\) \(checkpoint\) vs None"):
        train(tiny_config("generator_iters=3", f"ckpt_path={tmp_path / 'other.ckpt'}", run_dir=tmp_path / "other"))
    fm = ["objective=dcgan", "objective.generator_loss=feature_matching", "objective.feature_layer=1"]
    with pytest.raises(UserInputError, match=r"objective.feature_layer: \(absent\) \(checkpoint\) vs 1"):
        train(tiny_config("generator_iters=3", *fm, f"ckpt_path={path}", run_dir=tmp_path / "set"))


def test_a_checkpoint_of_the_earlier_step_counter_is_refused_naming_its_format(tiny_config, toy_checkpoint, tmp_path):
    old = _load(toy_checkpoint)
    del old["wgangp"]["format"]  # what checkpoints before format 2 look like
    path = tmp_path / "format1.ckpt"
    torch.save(old, path)
    with pytest.raises(UserInputError, match="checkpoint format 1, and this version of wgangp resumes only format 2"):
        train(tiny_config("generator_iters=3", f"ckpt_path={path}", run_dir=tmp_path / "resumed"))


def test_a_lr_schedule_set_on_resume_trains_from_the_resumed_iteration(tiny_config, toy_checkpoint, tmp_path):
    """lr_decay none -> linear when resuming 2 iterations into 3: iteration 2 trains at 1e-4 * (1 - 2/3)."""
    run = tmp_path / "resumed"
    train(tiny_config("generator_iters=3", "objective.lr_decay=linear", f"ckpt_path={toy_checkpoint}", run_dir=run))
    resumed = _load(run / "checkpoints/last.ckpt")
    assert resumed["wgangp"]["run_config"]["objective"]["lr_decay_iters"] == 3
    for state in resumed["optimizer_states"]:
        assert state["param_groups"][0]["lr"] == pytest.approx(1e-4 / 3)


def test_a_checkpoint_from_before_the_data_readers_and_the_new_loop_fields_resumes(tiny_config, tmp_path):
    """A format-2 checkpoint whose run config names a per-data-set module (MNISTDataModule, ...) and lacks the loop
    fields added since (penalty_every, augment, ...) resumes: its config is read as today's."""
    from wgangp.checkpoints import upgrade_run_config
    from wgangp.resume import check_resume_compatible

    cfg = tiny_config("generator_iters=2")
    current = OmegaConf.to_container(cfg, resolve=True)
    legacy = {**current, "data": {**current["data"], "_target_": "wgangp.data.images.CIFAR10DataModule"}}
    added = ("penalty_every", "augment", "augment_policy", "ada_target", "ada_kimg")
    legacy["objective"] = {k: v for k, v in current["objective"].items() if k not in added}
    upgraded = upgrade_run_config(legacy)
    assert upgraded["data"]["_target_"] == "wgangp.data.images.ImageDataModule"
    assert upgraded["data"]["reader"] == {"_target_": "wgangp.data.readers.CIFAR10Reader", "_partial_": True}
    # the toy run's own data is not an image module: compare the objective part through the resume check
    legacy_toy = {**current, "objective": legacy["objective"]}
    check_resume_compatible(upgrade_run_config(legacy_toy), cfg, "old.ckpt")  # no refusal
