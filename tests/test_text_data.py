"""Character-level text modules: vocabulary, one-hot layout, held-out lines, bad input, training."""

import pytest
import torch

from conftest import set_up
from wgangp.build import build
from wgangp.data.errors import DataError
from wgangp.data.text import PAD, UNKNOWN, BillionWordDataModule, CharVocabulary, TextDataModule
from wgangp.train import train


def test_vocabulary_orders_by_frequency_and_maps_the_rest_to_unknown():
    vocab = CharVocabulary.build(["aaab", "aab", "c`"], size=4, seq_len=6)
    assert vocab.chars == [UNKNOWN, PAD, "a", "b"]  # "c" and the data's backtick fell outside
    ids = vocab.encode(["abc", "aaaaaaaaa"])
    assert ids.dtype == torch.uint8 and ids.tolist() == [[2, 3, 0, 1, 1, 1], [2] * 6]  # cut to 6, padded
    assert vocab.decode(ids) == ["ab" + UNKNOWN, "aaaaaa"]


def test_text_file_to_one_hot_batches(tmp_path):
    lines = ["the quick brown fox", "jumps over the lazy dog", "", "   ", "a" * 50, "pack my box with five dozen"]
    (tmp_path / "t.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    dm = set_up(TextDataModule(str(tmp_path / "t.txt"), val_fraction=0.25, batch_size=3, batches_per_step=2))
    usable = [line for line in lines if line.strip()]
    vocab = dm.vocabulary
    assert vocab[:2] == [UNKNOWN, PAD] and dm.data_shape == (len(vocab), 32)
    assert len(dm.source) == 3 and len(dm.val_source) == 1
    train_lines = dm.decode(dm.source.gather(torch.arange(3))["real"])  # every character is in the vocabulary
    (held_out,) = dm.decode(dm.val_source.gather(torch.arange(1))["real"])  # may hold characters it lacks
    assert len(set(train_lines)) == 3 and set(train_lines) <= {line[:32] for line in usable}
    (original,) = {line[:32] for line in usable} - set(train_lines)  # each usable line in exactly one split
    assert all(a == b or a == UNKNOWN for a, b in zip(held_out, original, strict=True))
    batch = dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)
    x = batch["real"]
    assert x.shape == (2, 3, len(vocab), 32) and x.dtype == torch.float32
    torch.testing.assert_close(x.sum(dim=2), torch.ones(2, 3, 32))  # one-hot over the vocabulary axis
    assert set(dm.decode(x.flatten(0, 1))) <= {line[:32] for line in usable}


def test_billion_word_reads_the_training_shards_in_order(tmp_path):
    folder = tmp_path / "lm" / "training-monolingual.tokenized.shuffled"
    folder.mkdir(parents=True)
    (folder / "news.en-00002-of-00100").write_text("second shard line\n")
    (folder / "news.en-00001-of-00100").write_text("first line\nsecond line\n")
    dm = set_up(BillionWordDataModule(str(tmp_path / "lm"), max_lines=2, val_fraction=0.0))
    assert sorted(dm.decode(dm.source.real)) == ["first line", "second line"]  # max_lines stops in shard 1


def test_text_bad_input(tmp_path):
    (tmp_path / "blank.txt").write_text("\n   \n\n")
    with pytest.raises(DataError, match=r"blank.txt holds no usable \(non-blank\) lines.*data.path"):
        set_up(TextDataModule(str(tmp_path / "blank.txt")))
    with pytest.raises(DataError, match=r"the text file .*absent.txt does not exist"):
        set_up(TextDataModule(str(tmp_path / "absent.txt")))
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00\x81 binary\n")
    with pytest.raises(DataError, match=r"binary.txt is not UTF-8 text"):
        set_up(TextDataModule(str(tmp_path / "binary.txt")))
    with pytest.raises(DataError, match=r"training-monolingual.tokenized.shuffled.*news.en-00001-of-00100.*statmt"):
        set_up(BillionWordDataModule(str(tmp_path)))


@pytest.mark.parametrize("data", ["text", "billion_word"])
def test_every_text_data_option_trains(tiny_config, tmp_path, data):
    text = "\n".join(f"line number {i} of the text" for i in range(40))
    if data == "text":
        (tmp_path / "t.txt").write_text(text)
        where = f"data.path={tmp_path / 't.txt'}"
    else:
        (tmp_path / "lm/training-monolingual.tokenized.shuffled").mkdir(parents=True)
        (tmp_path / "lm/training-monolingual.tokenized.shuffled/news.en-00001-of-00100").write_text(text)
        where = f"data.root={tmp_path / 'lm'}"
    cfg = tiny_config(f"data={data}", where, "model=mlp", "objective=wgan_gp", "generator_iters=2")
    datamodule, _ = build(cfg)
    assert datamodule.data_shape == (len(datamodule.vocabulary), 32)
    train(cfg)
    ckpt = torch.load(tmp_path / "run/checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["wgangp"]["generator_iter"] == 2 and ckpt["wgangp"]["data_shape"] == [len(datamodule.vocabulary), 32]
