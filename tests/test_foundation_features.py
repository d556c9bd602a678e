"""FD-DINOv2 and CLIP-FD (metrics=dinov2, metrics=clip): torch-fidelity's extractors on random weights of the real
architectures (no weights can be downloaded here), their features through the FID path, parity with torch-fidelity's
own constructors and, where a checkout of facebookresearch/dinov2 is at hand, with dinov2's ViT; and the missing-weights
error that names the file to get."""

import math
import os
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from torch import nn

from conftest import TINY, compose_config
from wgangp.config_tree import CONF_DIR
from wgangp.errors import MissingWeightsError, UserInputError
from wgangp.metrics.clip import CLIPFeatures, clip_url, default_clip_weights
from wgangp.metrics.dinov2 import ARCHS, DINOv2Features, DinoViT, default_dinov2_weights, dinov2_url
from wgangp.metrics.quality import QualityScores
from wgangp.train import train


def randomised(vit: DinoViT, seed: int = 0) -> DinoViT:
    """`vit` with every parameter random: the layer scales and norms too (their init is 1 and the identity), so a
    wrong wiring of any of them changes the features."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in vit.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if name.endswith("gamma") or (name.endswith("weight") and "norm" in name):
                p.copy_(1 + 0.5 * noise)
            elif "norm" in name or "token" in name or "pos_embed" in name:
                p.copy_(0.5 * noise)
    return vit.eval()


@pytest.fixture(scope="module")
def dinov2_s(tmp_path_factory):
    """A ViT-S/14 state dict with random weights saved as dinov2_vits14_pretrain.pth, and the ViT."""
    torch.manual_seed(0)
    vit = randomised(DinoViT.of("dinov2-vit-s-14"))
    path = tmp_path_factory.mktemp("dinov2") / "dinov2_vits14_pretrain.pth"
    torch.save(vit.state_dict(), path)
    return path, vit


def fid_path(extractor, real, fake):
    """IS/FID/KID of images (N, C, H, W) in [-1, 1] through QualityScores (torchmetrics' metrics, our adapters)."""
    q = QualityScores(extractor, real[:1], splits=2, kid_subsets=2, kid_subset_size=len(fake), sync=False)
    q.update_real(real)
    q.update_fake(fake)
    return q, q.compute()


def images(n, seed, channels=3, size=32):
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# ---- DINOv2 ------------------------------------------------------------------------------------------------------
def test_dinov2_features_are_the_cls_token_width_and_feed_fid(dinov2_s):
    path, _ = dinov2_s
    features = DINOv2Features("dinov2-vit-s-14", path)
    assert features.name == "dinov2-vit-s-14"
    out = features(images(3, 0))
    assert set(out) == {"pool"} and out["pool"].shape == (3, 384) and out["pool"].dtype == torch.float32
    q, scores = fid_path(features, images(12, 1), images(12, 2) * 0.3)
    assert q.fid.inception.num_features == 384  # ExtractorOutput: the pool width, without a probe at 299x299
    assert "inception_score" not in scores  # no logits: no IS
    assert math.isfinite(scores["fid"]) and scores["fid"] > 0 and math.isfinite(scores["kid"])


def test_dinov2_takes_grayscale_as_rgb(dinov2_s):
    path, _ = dinov2_s
    features = DINOv2Features("dinov2-vit-s-14", path)
    gray = images(2, 3, channels=1)
    torch.testing.assert_close(features(gray)["pool"], features(gray.expand(-1, 3, -1, -1))["pool"])


def test_dinov2_features_equal_torch_fidelitys_extractor_built_its_own_way(dinov2_s, monkeypatch):
    # torch-fidelity's constructor loads the ViT with torch.hub.load; handed the same ViT it must give the same
    # features as ours, which skips that constructor (it would clone GitHub and download the weights).
    from torch_fidelity.feature_extractor_dinov2 import FeatureExtractorDinoV2

    path, vit = dinov2_s
    calls = []
    monkeypatch.setattr(torch.hub, "load", lambda repo, name, *a, **k: calls.append((repo, name)) or vit)
    theirs = FeatureExtractorDinoV2("dinov2-vit-s-14", ["dinov2"])
    assert calls == [("facebookresearch/dinov2", "dinov2_vits14")]
    ours = DINOv2Features("dinov2-vit-s-14", path)
    x = images(3, 4)
    u8 = ((x + 1) * 127.5).round().to(torch.uint8)
    (expected,) = theirs(u8)
    torch.testing.assert_close(ours(x)["pool"], expected, rtol=0, atol=0)


@pytest.mark.parametrize("model", list(ARCHS))
def test_each_dinov2_architecture_has_its_width_and_the_released_layout(model):
    with torch.device("meta"):  # the shapes alone: ViT-g/14 is 1.1B parameters
        vit = DinoViT.of(model)
    width = ARCHS[model][1]
    assert vit.width == width and vit.pos_embed.shape == (1, 1 + 37 * 37, width)  # trained at 518 = 37 * 14
    params = sum(p.numel() for p in vit.parameters())
    # the parameter counts dinov2's README gives its backbones (ViT-S/14 21M, B/14 86M, L/14 300M, g/14 1,100M)
    published = {"dinov2-vit-s-14": 21e6, "dinov2-vit-b-14": 86e6, "dinov2-vit-l-14": 300e6, "dinov2-vit-g-14": 1100e6}
    assert params == pytest.approx(published[model], rel=0.06)
    keys = set(vit.state_dict())  # the released state dicts' names (strict loading checks the rest)
    assert {"cls_token", "pos_embed", "mask_token", "patch_embed.proj.weight", "norm.weight"} <= keys
    ffn = ["mlp.w12.weight", "mlp.w3.weight"] if model.endswith("g-14") else ["mlp.fc1.weight", "mlp.fc2.weight"]
    assert {f"blocks.0.{k}" for k in ["ls1.gamma", "attn.qkv.weight", *ffn]} <= keys


def _dinov2_source() -> Path | None:
    """A checkout of facebookresearch/dinov2 (its hubconf.py): $WGANGP_DINOV2_REPO, or torch hub's clone of it."""
    for candidate in (os.environ.get("WGANGP_DINOV2_REPO"), Path(torch.hub.get_dir()) / "facebookresearch_dinov2_main"):
        if candidate and (Path(candidate) / "hubconf.py").is_file():
            return Path(candidate)
    return None


@pytest.mark.skipif(_dinov2_source() is None, reason="no facebookresearch/dinov2 checkout (WGANGP_DINOV2_REPO)")
@pytest.mark.parametrize("model", ["dinov2-vit-s-14", pytest.param("dinov2-vit-g-14", marks=pytest.mark.slow)])
def test_dinov2_vit_equals_dinov2s_own_on_its_state_dict(model, monkeypatch):
    monkeypatch.setenv("XFORMERS_DISABLED", "1")  # the plain attention, as torch-fidelity runs it
    torch.manual_seed(0)
    theirs = torch.hub.load(str(_dinov2_source()), ARCHS[model][0], source="local", pretrained=False)
    theirs = randomised(theirs).eval()
    ours = DinoViT.of(model).eval()
    ours.load_state_dict(theirs.state_dict())  # strict: the same names and shapes
    for size in (224, 518):  # torch-fidelity's input; the training grid (no interpolation)
        x = torch.randn(2, 3, size, size)
        with torch.no_grad():
            torch.testing.assert_close(ours(x), theirs(x))


def test_missing_dinov2_weights_name_the_file_and_where_to_put_it(tmp_path):
    with pytest.raises(MissingWeightsError) as err:
        DINOv2Features("dinov2-vit-l-14", tmp_path / "missing.pth")
    text = str(err.value)
    assert str(tmp_path / "missing.pth") in text
    assert "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth" in text
    assert dinov2_url("dinov2-vit-l-14") in text and str(default_dinov2_weights("dinov2-vit-l-14")) in text
    assert "metrics.dinov2_weights=/path/to/dinov2_vitl14_pretrain.pth" in text and "WGANGP_DINOV2_WEIGHTS" in text
    assert "\n" not in text  # one paragraph


def test_a_file_that_is_not_the_models_state_dict_is_refused(dinov2_s, tmp_path):
    path, _ = dinov2_s
    with pytest.raises(UserInputError, match="not the released state dict of dinov2-vit-b-14"):
        DINOv2Features("dinov2-vit-b-14", path)  # ViT-S weights for ViT-B
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(UserInputError, match="not the released state dict"):
        DINOv2Features("dinov2-vit-s-14", garbage)
    with pytest.raises(UserInputError, match="is not one of dinov2-vit-s-14"):
        DINOv2Features("dinov2-vit-x-14", path)


# ---- CLIP --------------------------------------------------------------------------------------------------------
class _CLIPArchive(nn.Module):
    """What torch-fidelity reads from OpenAI's TorchScript file: the visual tower (`visual.*`) and the text projection
    (its width is the embedding's), here with random weights."""

    def __init__(self, width, layers, patch, resolution, embed):
        super().__init__()
        from torch_fidelity.feature_extractor_clip import CLIPVisual

        self.visual = CLIPVisual(embed, resolution, layers, width, patch).visual
        self.text_projection = nn.Parameter(torch.randn(embed, embed))

    def forward(self, x):
        return x


@pytest.fixture(scope="module")
def clip_b32(tmp_path_factory):
    """CLIP ViT-B/32's architecture (width 768, 12 layers, patch 32, 224 px, 512-d embedding), random weights, saved
    as a TorchScript archive like OpenAI's ViT-B-32.pt."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("clip") / "ViT-B-32.pt"
    with pytest.warns(FutureWarning):  # torch.jit is deprecated; OpenAI's files are TorchScript all the same
        torch.jit.script(_CLIPArchive(768, 12, 32, 224, 512)).save(str(path))
    return path


def test_clip_features_are_the_image_embedding_and_feed_fid(clip_b32):
    features = CLIPFeatures("clip-vit-b-32", clip_b32)
    assert features.name == "clip-vit-b-32"
    out = features(images(3, 0, channels=1))
    assert set(out) == {"pool"} and out["pool"].shape == (3, 512) and out["pool"].dtype == torch.float32
    q, scores = fid_path(features, images(10, 1), images(10, 2) * 0.3)
    assert q.fid.inception.num_features == 512 and "inception_score" not in scores
    assert math.isfinite(scores["fid"]) and scores["fid"] > 0


def test_clip_features_are_torch_fidelitys_extractor_run_as_it_is(clip_b32, monkeypatch):
    from torch_fidelity.feature_extractor_clip import FeatureExtractorCLIP

    seen = []
    forward = FeatureExtractorCLIP.forward
    monkeypatch.setattr(FeatureExtractorCLIP, "forward", lambda self, x: seen.append(x) or forward(self, x))
    features = CLIPFeatures("clip-vit-b-32", clip_b32)
    x = torch.tensor([-1.0, 0.0, 1.0]).view(1, 1, 1, 3).expand(2, 1, 6, 3)
    features(x)
    assert seen[0].dtype == torch.uint8 and seen[0].shape == (2, 3, 6, 3)
    assert seen[0][0, :, 0].tolist() == [[0, 128, 255]] * 3  # the same 8-bit conversion as the Inception path


def test_missing_clip_weights_name_the_file_and_where_to_put_it(tmp_path):
    with pytest.raises(MissingWeightsError) as err:
        CLIPFeatures("clip-vit-b-32", tmp_path / "missing.pt")
    text = str(err.value)
    assert clip_url("clip-vit-b-32").endswith("/ViT-B-32.pt") and clip_url("clip-vit-b-32") in text
    assert str(default_clip_weights("clip-vit-b-32")) in text and "metrics.clip_weights=/path/to/ViT-B-32.pt" in text
    assert "WGANGP_CLIP_WEIGHTS" in text and "\n" not in text


def test_a_file_that_is_not_a_clip_archive_is_refused(tmp_path):
    garbage = tmp_path / "ViT-B-32.pt"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(UserInputError, match="not OpenAI's released CLIP file"):
        CLIPFeatures("clip-vit-b-32", garbage)


# ---- the metrics= options ----------------------------------------------------------------------------------------
def test_metrics_options_build_these_extractors_from_the_configured_weights(dinov2_s, clip_b32):
    path, _ = dinov2_s
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        dinov2 = compose("eval", ["ckpt_path=x", "metrics=dinov2", f"metrics.dinov2_weights={path}"])
        clip = compose("eval", ["ckpt_path=x", "metrics=clip", f"metrics.clip_weights={clip_b32}"])
        default = compose("eval", ["ckpt_path=x", "metrics=dinov2"])
    assert default.metrics.extractor.model == "dinov2-vit-l-14"  # Stein et al.'s ViT-L/14
    assert clip.metrics.extractor.model == "clip-vit-b-32"
    dinov2.metrics.extractor.model = "dinov2-vit-s-14"  # the small random-weight file above
    assert instantiate(dinov2.metrics.extractor)()(images(1, 0))["pool"].shape == (1, 384)
    assert instantiate(clip.metrics.extractor)()(images(1, 0))["pool"].shape == (1, 512)


@pytest.mark.parametrize("metrics", ["dinov2", "clip"])
def test_in_training_a_chosen_feature_space_without_weights_stops_before_the_first_step(tmp_path, metrics):
    # Inception's weights missing only turn IS/FID/KID off (every image run scores with it by default); a feature
    # space the run asked for (metrics=dinov2, clip) stops it, before a step is trained or a checkpoint written.
    overrides = [
        *(o for o in TINY if not o.startswith("model.")),
        "data=digits",
        "model=dcgan",
        "model.generator.base_filters=4",
        "model.critic.base_filters=4",
        "generator_iters=2",
        f"metrics={metrics}",
        f"metrics.{metrics}_weights={tmp_path / 'missing.pth'}",
    ]
    with pytest.raises(MissingWeightsError, match="so it stops before training") as err:
        train(compose_config(tmp_path / "run", overrides))
    assert str(tmp_path / "missing.pth") in str(err.value)
    assert not list((tmp_path / "run").glob("checkpoints/*.ckpt"))
