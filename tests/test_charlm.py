"""The character-level language model (Sec. 5.5): nets, decoding, n-gram JS divergence, training runs."""

import csv
import math

import numpy as np
import pytest
import torch

from conftest import compose_config, run_cli, set_up
from wgangp.build import build
from wgangp.data.text import PAD, CharVocabulary, TextDataModule, one_hot_ids
from wgangp.metrics.ngrams import NgramCounts, js_divergence, ngram_js, to_ids
from wgangp.nets.charcnn import CharCNNCritic, CharCNNGenerator
from wgangp.penalties import gradient_penalty
from wgangp.train import train

LINES = [
    "The quick brown fox jumps over the lazy dog.",
    "Pack my box with five dozen liquor jugs!",
    "How vexingly quick daft zebras jump",
    "Sphinx of black quartz, judge my vow",
    "a",
    "Two driven jocks help fax my big quiz.",
]


def _lm_config(tmp_path, *overrides):
    """experiment=text_lm on a tiny text file with tiny nets (conftest's TINY sizes are for MLPs)."""
    return compose_config(
        tmp_path / "run",
        [
            "experiment=text_lm",
            "debug=fast",
            "callbacks.progress.refresh_rate=0",
            f"data.path={_text_file(tmp_path)}",
            "model.generator.dim=8",
            "model.critic.dim=8",
            "model.generator.blocks=1",
            "model.critic.blocks=1",
            "objective.n_critic=2",
            "generator_iters=4",
            *overrides,
        ],
    )


def _text_file(tmp_path, n_lines=60):
    path = tmp_path / "t.txt"
    path.write_text("\n".join(f"{LINES[i % len(LINES)]} {i}" for i in range(n_lines)) + "\n", encoding="utf-8")
    return path


def test_generator_maps_latents_to_distributions_over_the_vocabulary():
    gen = CharCNNGenerator((11, 32), latent_dim=16, dim=8, blocks=2)
    x = gen(torch.randn(5, 16))
    assert x.shape == (5, 11, 32) and gen.data_shape == (11, 32) and gen.latent_dim == 16
    assert (x >= 0).all()
    torch.testing.assert_close(x.sum(dim=1), torch.ones(5, 32))  # a softmax over the vocabulary axis
    critic = CharCNNCritic((11, 32), dim=8, blocks=2)
    assert critic(x).shape == (5,)
    # Sec. 4: no batch norm, so each score depends on its own sample only
    torch.testing.assert_close(critic(x[:2]), critic(x)[:2])
    with pytest.raises(ValueError, match=r"\(vocab_size, seq_len\).*data_shape=\(3, 32, 32\)"):
        CharCNNGenerator((3, 32, 32))


def test_residual_blocks_scale_their_branch_by_0_3():
    gen = CharCNNGenerator((4, 6), latent_dim=3, dim=5, blocks=1)
    block = gen.blocks[0]
    x = torch.randn(2, 5, 6)
    torch.testing.assert_close(block(x), x + 0.3 * block.branch(x))


def test_gradient_penalty_on_text_shaped_inputs():
    # a linear critic on (N, V, L) inputs has gradient w everywhere: GP = (||w|| - 1)^2
    w = torch.randn(7, 32)
    w = 3 * w / w.norm()
    real = one_hot_ids(torch.randint(7, (8, 32)), 7)
    fake = torch.softmax(torch.randn(8, 7, 32), dim=1)
    gp = gradient_penalty(lambda x: (x * w).sum(dim=(1, 2)), real, fake)
    torch.testing.assert_close(gp, torch.tensor(4.0))


def test_decoding_round_trips_one_hot_real_text(tmp_path):
    dm = set_up(TextDataModule(str(_text_file(tmp_path)), val_fraction=0.0))
    ids = dm.source.real  # (N, 32)
    x = dm.source.gather(torch.arange(len(ids)))["real"]  # one-hot (N, V, 32)
    expected = {f"{LINES[i % len(LINES)]} {i}"[:32] for i in range(60)}
    decoded = dm.decode(x)
    assert set(decoded) == expected and len(decoded) == 60
    assert torch.equal(to_ids(x), ids.long())
    vocab = CharVocabulary(dm.vocabulary)  # what sample.py rebuilds from a checkpoint
    assert vocab.decode(x) == decoded
    # argmax of a soft distribution decodes like its one-hot peak; padding is stripped only at the end
    soft = torch.softmax(4 * x + 0.1 * torch.randn_like(x), dim=1)
    assert dm.decode(soft) == decoded
    assert not any(line.endswith(PAD) for line in decoded)


def test_ngram_counts_include_padding_and_stay_within_samples():
    ids = torch.tensor([[2, 3, 1, 1], [3, 2, 2, 1]])  # PAD is id 1
    c2 = NgramCounts.from_ids(ids, 2, vocab_size=4)
    pairs = {(int(code) // 4, int(code) % 4): int(n) for code, n in zip(c2.codes, c2.counts, strict=True)}
    # windows: (2,3) (3,1) (1,1) | (3,2) (2,2) (2,1); no window (1,3) across the row boundary
    assert pairs == {(2, 3): 1, (3, 1): 1, (1, 1): 1, (3, 2): 1, (2, 2): 1, (2, 1): 1}
    assert NgramCounts.from_ids(ids, 4, vocab_size=4).total == 2
    c1 = NgramCounts.from_ids(ids, 1, vocab_size=4)
    assert dict(zip(c1.codes.tolist(), c1.counts.tolist(), strict=True)) == {1: 3, 2: 3, 3: 2}


def _entropy_bits(p):
    p = np.asarray([x for x in p if x > 0], dtype=float)
    return float(-(p * np.log2(p)).sum())


def test_js_divergence_hand_computed_identical_disjoint_and_symmetric():
    a = torch.tensor([[2, 3, 2, 2]])  # unigrams: P = (a: 3/4, b: 1/4)
    b = torch.tensor([[2, 4, 4, 4]])  # unigrams: Q = (a: 1/4, c: 3/4)
    p, q = NgramCounts.from_ids(a, 1, 5), NgramCounts.from_ids(b, 1, 5)
    # JS = H(M) - (H(P) + H(Q)) / 2 with M = (a: 1/2, b: 1/8, c: 3/8)
    h_p, h_q = _entropy_bits([3 / 4, 1 / 4]), _entropy_bits([1 / 4, 3 / 4])
    expected = _entropy_bits([1 / 2, 1 / 8, 3 / 8]) - (h_p + h_q) / 2
    assert js_divergence(p, q) == pytest.approx(expected, abs=1e-12)
    # by hand: KL(P||M) = 3/4 log2(3/2) + 1/4, KL(Q||M) = -1/4 + 3/4, so JS = 3/8 (log2(3/2) + 1) = 3/8 log2 3
    assert expected == pytest.approx(3 / 8 * math.log2(3), abs=1e-12)
    assert js_divergence(q, p) == pytest.approx(js_divergence(p, q), abs=1e-15)
    # identical distributions, also at different corpus sizes: 0; disjoint supports: 1 bit (the bound)
    corpus = torch.randint(2, 9, (40, 32))
    assert ngram_js(corpus, corpus, 9) == {1: 0.0, 2: 0.0, 3: 0.0, 4: 0.0}
    assert ngram_js(corpus.repeat(3, 1), corpus, 9)[4] == pytest.approx(0.0, abs=1e-12)
    assert ngram_js(torch.full((3, 32), 2), torch.full((5, 32), 3), 9) == {1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0}
    # random corpora: symmetric and within [0, 1] bit (ln 2 nats)
    x, y = torch.randint(0, 6, (20, 32)), torch.randint(2, 9, (30, 32))
    for n in (1, 2, 3, 4):
        d = ngram_js(x, y, 9, (n,))[n]
        assert 0 < d < 1 and d == pytest.approx(ngram_js(y, x, 9, (n,))[n], abs=1e-12)
    with pytest.raises(ValueError, match="cannot compare"):
        js_divergence(p, NgramCounts.from_ids(a, 2, 5))


def test_text_run_writes_decoded_samples_js_metrics_and_sample_cli(tmp_path):
    cfg = _lm_config(tmp_path)
    datamodule, objective = build(cfg)
    assert objective.run_config["vocabulary"] == datamodule.vocabulary
    metrics = train(cfg)
    run = tmp_path / "run"
    for n in (1, 2, 3, 4):
        assert 0 <= metrics[f"val/js_{n}gram"] <= 1
    text = (run / "samples.txt").read_text(encoding="utf-8")
    blocks = text.split("# generator iteration ")[1:]
    assert [b.split("\n", 1)[0] for b in blocks] == ["0", "2", "4"]  # start, every 2 (debug=fast), end
    assert all(len(b.rstrip("\n").split("\n")) == 1 + 8 for b in blocks)  # num_print decoded lines each
    assert set("".join(text.split("\n")[1:9])) <= set(datamodule.vocabulary)
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [int(r["step"]) for r in rows if r.get("val/js_4gram")] == [0, 2, 4]
    assert [int(r["step"]) for r in rows if r.get("val/js_4gram_real")] == [0]
    assert (run / "js_4gram.png").stat().st_size > 0
    # sample.py decodes from the checkpoint alone
    out = run_cli("sample.py", f"ckpt_path={run / 'checkpoints/last.ckpt'}", "num_samples=5", f"out={tmp_path}/s.txt")
    assert out.returncode == 0, out.stdout + out.stderr
    printed = out.stdout.splitlines()[:5]
    assert (tmp_path / "s.txt").read_text(encoding="utf-8").splitlines() == printed
    assert all(len(line) <= 32 and set(line) <= set(datamodule.vocabulary) for line in printed)


def test_standard_gan_objective_runs_on_the_language_model(tmp_path):
    cfg = _lm_config(tmp_path, "objective=dcgan")
    assert cfg.objective._target_ == "wgangp.objectives.gan.StandardGAN"
    metrics = train(cfg)
    for n in (1, 2, 3, 4):
        assert 0 <= metrics[f"val/js_{n}gram"] <= 1
    rows = list(csv.DictReader(open(tmp_path / "run/metrics.csv")))
    d_real = [float(r["train/d_real"]) for r in rows if r.get("train/d_real")]
    g_loss = [float(r["train/generator_loss"]) for r in rows if r.get("train/generator_loss")]
    assert len(d_real) == len(g_loss) == 4 and all(0 < p < 1 for p in d_real) and all(map(math.isfinite, g_loss))
    assert (tmp_path / "run/samples.txt").read_text(encoding="utf-8").count("# generator iteration") == 3


def test_decoded_samples_go_to_the_text_file_and_to_loggers_with_log_text(tmp_path):
    from wgangp.evaluation.base import Table
    from wgangp.evaluation.ngrams import NgramDivergence

    evaluator = NgramDivergence(str(tmp_path))
    evaluator.real_js = {4: 0.1}
    evaluator._lines = ["ab c", "d"]
    evaluator.history = [(7, {"val/js_4gram": 0.5})]
    assert evaluator.write(7) == [Table("val/samples", ["generator_iter", "sample"], [[7, "ab c"], [7, "d"]])]
    evaluator._lines = ["e"]
    evaluator.history.append((9, {"val/js_4gram": 0.4}))
    evaluator.write(9)
    assert (tmp_path / "samples.txt").read_text() == "# generator iteration 7\nab c\nd\n# generator iteration 9\ne\n"
    assert (tmp_path / "js_4gram.png").stat().st_size > 0
