"""Data that cannot be read: a DataError naming the file or folder, exit 2, no traceback. Real
files, real permissions (see faults.without_read_override), real DataLoader workers."""

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, run_cli
from faults import assert_one_paragraph, without_read_override
from wgangp.data.writers import labelled_images, write_cifar10, write_image_folder

NO_READ = without_read_override()
needs_no_read = pytest.mark.skipif(NO_READ is None, reason="cannot drop the power to read mode-000 files")
IMAGE_RUN = [
    "model=mlp",
    "model.generator.width=32",
    "model.critic.width=32",
    "debug=fast",
    "callbacks.progress.refresh_rate=0",
]


def _train_without_read(run_dir, *overrides):
    return subprocess.run(
        [*NO_READ, sys.executable, str(REPO / "src/train.py"), *overrides, f"hydra.run.dir={run_dir}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


@needs_no_read
def test_an_unreadable_cifar_folder_is_named(tmp_path):
    folder = write_cifar10(
        tmp_path / "c",
        [labelled_images(20, 32, 32, 3, seed=i) for i in range(5)],
        labelled_images(20, 32, 32, 3, seed=9),
    )
    folder.chmod(0)
    try:
        out = _train_without_read(
            tmp_path / "run", "data=cifar10", f"data.root={tmp_path / 'c'}", "data.download=false", *IMAGE_RUN
        )
    finally:
        folder.chmod(0o755)
    assert_one_paragraph(out, 2, f"{folder} cannot be read (Permission denied)", "chmod -R u+rX")


@needs_no_read
def test_an_unreadable_cifar_batch_is_named_not_called_corrupt(tmp_path):
    folder = write_cifar10(
        tmp_path / "c",
        [labelled_images(20, 32, 32, 3, seed=i) for i in range(5)],
        labelled_images(20, 32, 32, 3, seed=9),
    )
    (folder / "data_batch_2").chmod(0)
    out = _train_without_read(
        tmp_path / "run", "data=cifar10", f"data.root={tmp_path / 'c'}", "data.download=false", *IMAGE_RUN
    )
    message = assert_one_paragraph(out, 2, f"{folder / 'data_batch_2'} cannot be read (Permission denied)")
    assert "corrupt" not in message


@needs_no_read
def test_an_unreadable_text_file_is_named(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("".join(f"line {i}\n" for i in range(50)))
    text.chmod(0)
    out = _train_without_read(
        tmp_path / "run",
        "data=text",
        f"data.path={text}",
        "model=charcnn",
        "model.generator.dim=16",
        "model.critic.dim=16",
        "debug=fast",
    )
    assert_one_paragraph(out, 2, f"{text} cannot be read (Permission denied)")


@needs_no_read
def test_an_image_folder_with_an_unreadable_subfolder_does_not_train_on_half(tmp_path):
    paths = write_image_folder(tmp_path / "imgs", labelled_images(12, 16, 16, 3)[0])
    sub = tmp_path / "imgs/a/b"
    assert sum(p.parent == sub for p in paths) == 6
    sub.chmod(0)
    try:
        out = _train_without_read(
            tmp_path / "run",
            "data=image_folder",
            f"data.root={tmp_path / 'imgs'}",
            "data.image_size=16",
            "data.num_workers=0",
            *IMAGE_RUN,
        )
    finally:
        sub.chmod(0o755)
    assert_one_paragraph(out, 2, f"{sub} cannot be read (Permission denied)")
    assert not (tmp_path / "run/checkpoints").exists()


def test_a_file_given_for_a_folder_and_a_folder_for_a_file(tmp_path):
    a_file = tmp_path / "f.png"
    a_file.write_bytes(b"x")
    out = run_cli("train.py", "data=image_folder", f"data.root={a_file}", *IMAGE_RUN, f"hydra.run.dir={tmp_path}/r")
    assert_one_paragraph(out, 2, f"data.root={a_file} is a file, not a folder")
    out = run_cli(
        "train.py", "data=text", f"data.path={tmp_path}", "model=charcnn", "debug=fast", f"hydra.run.dir={tmp_path}/r2"
    )
    assert_one_paragraph(out, 2, f"data.path={tmp_path} is a folder, not a text file")


def test_a_truncated_png_read_in_a_dataloader_worker_is_one_paragraph(tmp_path):
    paths = write_image_folder(tmp_path / "imgs", labelled_images(40, 16, 16, 3)[0])
    bad = paths[7]
    bad.write_bytes(bad.read_bytes()[:60])  # the header survives, the pixel data does not
    out = run_cli(
        "train.py",
        "data=image_folder",
        f"data.root={tmp_path / 'imgs'}",
        "data.image_size=16",
        "data.num_workers=2",
        "data.val_fraction=0.1",
        "data.batch_size=32",
        *IMAGE_RUN,
        # no callback draws real images in the main process first: the workers meet the file
        "evaluators.critic_validation=null",
        "evaluators.quality=null",
        "evaluators.samples=null",
        f"hydra.run.dir={tmp_path / 'run'}",
        env={"OMP_NUM_THREADS": "1"},
    )
    message = assert_one_paragraph(out, 2, "is not a readable image", "raised in DataLoader worker")
    assert "Original Traceback" not in out.stderr and 'File "' not in out.stderr
    assert np.any([str(p) in message for p in paths])
