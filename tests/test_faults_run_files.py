"""A run's own files damaged between a kill and its resume, and a full disk before the first checkpoint.

metrics.csv that is not UTF-8 or not CSV is kept aside (metrics.csv.damaged-N) and a fresh one started; a final
row without its newline (a run killed mid-write) is dropped on resume instead of having the next row glued to
it; a checkpoint write that fails before any checkpoint exists says the run must be restarted, not resumed.
"""

import csv
import errno
import logging

import numpy as np
import pytest

from wgangp.callbacks.checkpoint import atomic_save_checkpoint
from wgangp.errors import CheckpointWriteError
from wgangp.loggers import RunCSVLogger
from wgangp.train import train

METRIC = "train/critic_loss"


def read_table(path):
    """metrics.csv -> (header, rows as lists); the file must be UTF-8 CSV."""
    with open(path, newline="", encoding="utf-8") as f:
        header, *rows = list(csv.reader(f))
    return header, rows


def assert_well_formed(path):
    """Every row has the header's columns, steps never go back, each metric's steps strictly increase;
    returns the steps of METRIC."""
    header, rows = read_table(path)
    assert "step" in header and rows
    assert all(len(r) == len(header) for r in rows), [r for r in rows if len(r) != len(header)]
    steps = [int(r[header.index("step")]) for r in rows]
    assert steps == sorted(steps)
    for column in set(header) - {"step"}:
        logged = [int(r[header.index("step")]) for r in rows if r[header.index(column)] != ""]
        assert logged == sorted(set(logged)), column
    return [int(r[header.index("step")]) for r in rows if r[header.index(METRIC)] != ""]


@pytest.fixture
def stopped_run(tiny_config, tmp_path):
    """A run stopped after generator iteration 2 (last.ckpt at 2) and how to resume it to iteration 4."""
    run = tmp_path / "run"
    train(tiny_config("generator_iters=2", run_dir=run))
    assert (run / "checkpoints/last.ckpt").is_file()

    def resume():
        return train(tiny_config("generator_iters=4", "ckpt_path=last", run_dir=run))

    return run, resume


def test_a_resume_keeps_a_metrics_csv_of_random_bytes_aside_and_starts_a_fresh_one(stopped_run, caplog):
    run, resume = stopped_run
    damaged = np.random.default_rng(0).bytes(3000)  # neither UTF-8 nor CSV
    with pytest.raises(UnicodeDecodeError):
        damaged.decode("utf-8")
    (run / "metrics.csv").write_bytes(damaged)
    with caplog.at_level(logging.WARNING, logger="wgangp"):
        resume()
    kept = run / "metrics.csv.damaged-1"
    assert kept.read_bytes() == damaged  # nothing the user had is lost
    assert f"{run / 'metrics.csv'}" in caplog.text and str(kept) in caplog.text
    assert assert_well_formed(run / "metrics.csv") == [3, 4]  # the fresh log holds the resumed iterations


def test_a_metrics_csv_that_is_text_but_not_the_log_is_kept_aside_under_the_first_free_name(tmp_path, caplog):
    (tmp_path / "metrics.csv.damaged-1").write_bytes(b"an earlier one")
    cases = [
        b"step,train/critic_loss\r\n1,0.5\r\n2,0.4,9,9\r\n",  # a row with more columns than the header
        b"\x00\x00\x00\x00 zeroed by a crash \x00\n\x00\x00\n",  # NUL blocks: no step column
        b"step,train/critic_loss\r\nx,0.5\r\n",  # a step that is not a number
        b"step,train/crit",  # a header cut short, nothing else
    ]
    for n, content in enumerate(cases, start=2):
        (tmp_path / "metrics.csv").write_bytes(content)
        logger = RunCSVLogger(save_dir=str(tmp_path))
        with caplog.at_level(logging.WARNING, logger="wgangp"):
            logger.continue_from(5, {})
        assert (tmp_path / f"metrics.csv.damaged-{n}").read_bytes() == content
        assert not (tmp_path / "metrics.csv").exists()
        logger.log_metrics({METRIC: 1.5}, step=6)
        logger.save()
        assert read_table(tmp_path / "metrics.csv") == (["step", METRIC], [["6", "1.5"]])
        (tmp_path / "metrics.csv").unlink()
    assert (tmp_path / "metrics.csv.damaged-1").read_bytes() == b"an earlier one"
    assert caplog.text.count("could not be read as the metrics log") == len(cases)


def test_a_resume_drops_a_last_row_that_lost_its_newline(stopped_run):
    run, resume = stopped_run
    path = run / "metrics.csv"
    header, rows = read_table(path)
    row = next(r for r in rows if r[header.index(METRIC)] != "")
    row[header.index("step")] = "3"  # a row of iteration 3, cut mid-write by the kill
    partial = ",".join(row)[: len(",".join(row)) - 3]
    before = path.read_bytes()
    assert before.endswith(b"\n")
    path.write_bytes(before + partial.encode())
    resume()
    assert assert_well_formed(path) == [1, 2, 3, 4]
    assert path.read_bytes().startswith(before)  # every complete row before the checkpoint kept as written


def test_a_partial_last_row_is_dropped_even_with_nothing_else_to_drop(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_bytes(b"step,train/critic_loss\r\n1,0.5\r\n2,0.25\r\n3,0.1")
    logger = RunCSVLogger(save_dir=str(tmp_path))
    logger.continue_from(5, {})  # iteration 5's checkpoint: no complete row is past it
    logger.log_metrics({METRIC: 0.75}, step=6)
    logger.save()
    assert read_table(path) == (["step", METRIC], [["1", "0.5"], ["2", "0.25"], ["6", "0.75"]])


def test_the_writer_itself_never_glues_a_row_onto_a_partial_one_or_reads_a_damaged_file(tmp_path, caplog):
    """The same guards when the writer opens metrics.csv without a resume having cleaned it first."""
    path = tmp_path / "metrics.csv"
    path.write_bytes(b"step,train/critic_loss\r\n1,0.5\r\n2,0.2")
    logger = RunCSVLogger(save_dir=str(tmp_path))
    logger.log_metrics({METRIC: 0.75}, step=3)
    logger.save()
    assert read_table(path) == (["step", METRIC], [["1", "0.5"], ["3", "0.75"]])

    path.write_bytes(b"\xff\xfe\x00garbage\n")
    logger = RunCSVLogger(save_dir=str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="wgangp"):
        logger.log_metrics({METRIC: 0.5}, step=4)
        logger.save()
    assert (tmp_path / "metrics.csv.damaged-1").read_bytes() == b"\xff\xfe\x00garbage\n"
    assert read_table(path) == (["step", METRIC], [["4", "0.5"]])
    assert "kept it as" in caplog.text


class FullDisk:
    """A stand-in trainer whose checkpoint write fails as on a full disk, after writing part of the file."""

    is_global_zero = True

    def save_checkpoint(self, path, weights_only=False):
        with open(path, "wb") as f:
            f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_before_any_checkpoint_says_restart_not_resume(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    with pytest.raises(CheckpointWriteError) as info:
        atomic_save_checkpoint(FullDisk(), folder / "last.ckpt")
    message = str(info.value)
    assert info.value.errno == errno.ENOSPC
    assert f"could not write checkpoint {folder / 'last.ckpt'} (No space left on device)" in message
    assert "nothing to resume from" in message and "restart the run from the beginning" in message
    assert "ckpt_path=last" not in message
    assert list(folder.iterdir()) == []  # the partial temporary file is gone

    with pytest.raises(CheckpointWriteError) as info:  # a kept checkpoint written first fails the same way
        atomic_save_checkpoint(FullDisk(), folder / "iter_0000002.ckpt")
    assert "nothing to resume from" in str(info.value)

    class Resumed(FullDisk):  # a launch resumed from another folder's checkpoint can resume from it again
        ckpt_path = str(tmp_path / "earlier/checkpoints/last.ckpt")

    (tmp_path / "earlier/checkpoints").mkdir(parents=True)
    (tmp_path / "earlier/checkpoints/last.ckpt").write_bytes(b"earlier")
    with pytest.raises(CheckpointWriteError) as info:
        atomic_save_checkpoint(Resumed(), folder / "last.ckpt")
    assert f"resume with ckpt_path={Resumed.ckpt_path}" in str(info.value)
    assert "nothing to resume from" not in str(info.value)


def test_a_full_disk_with_an_earlier_checkpoint_says_how_to_resume(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (folder / "iter_0000002.ckpt").write_bytes(b"kept")
    (folder / "iter_0000004.ckpt").write_bytes(b"kept")
    with pytest.raises(CheckpointWriteError) as info:  # only kept checkpoints: ckpt_path=last would find none
        atomic_save_checkpoint(FullDisk(), folder / "last.ckpt")
    assert f"resume with ckpt_path={folder / 'iter_0000004.ckpt'}" in str(info.value)
    assert "nothing to resume from" not in str(info.value)

    (folder / "last.ckpt").write_bytes(b"previous")
    with pytest.raises(CheckpointWriteError) as info:
        atomic_save_checkpoint(FullDisk(), folder / "last.ckpt")
    assert "the previous last.ckpt is intact" in str(info.value) and "resume with ckpt_path=last" in str(info.value)
    assert (folder / "last.ckpt").read_bytes() == b"previous"

    with pytest.raises(CheckpointWriteError) as info:
        atomic_save_checkpoint(FullDisk(), folder / "iter_0000006.ckpt")
    assert "no earlier iter_0000006.ckpt existed" in str(info.value) and "ckpt_path=last" in str(info.value)
