"""Hostile or unusable data settings and files: a DataError naming the file or value, never a traceback or code run.

Pickled CIFAR-10 and ImageNet 32x32 batches are read by an unpickler that admits numpy arrays and plain
containers only; `data=text` without `data.path` and a `data.subset` larger than the training split name the
setting and the fix.
"""

import os
import pickle

import numpy as np
import pytest
import torch

from conftest import REPO, TINY, run_cli, set_up
from faults import assert_one_paragraph
from wgangp.build import compose_config
from wgangp.data.errors import DataError
from wgangp.data.images import ImageDataModule
from wgangp.data.readers import CIFAR10Reader, DigitsReader, ImageNet32Reader, MNISTReader
from wgangp.data.text import BillionWordDataModule, TextDataModule
from wgangp.data.writers import labelled_images, write_cifar10, write_imagenet32, write_mnist
from wgangp.errors import UserInputError
from wgangp.train import train


class Payload:
    """What a crafted batch holds: unpickling it runs `call(*args)`."""

    def __init__(self, call, *args):
        self.call, self.args = call, args

    def __reduce__(self):
        return self.call, self.args


def crafted_batch(marker, call=os.system, protocol=2):
    """A CIFAR-style batch dict whose 'data' creates `marker` when unpickled with plain pickle.load."""
    args = (f"touch {marker}",) if call is os.system else (f"open({str(marker)!r}, 'w').close()",)
    return pickle.dumps({"data": Payload(call, *args), "labels": [0]}, protocol=protocol)


def cifar(tmp_path, n=8, **kw):
    train = [labelled_images(n, 32, 32, 3, seed=i) for i in range(5)]
    test = labelled_images(6, 32, 32, 3, seed=9)
    return write_cifar10(tmp_path / "cifar", train, test, **kw), train, test


@pytest.mark.parametrize(
    ("call", "refused", "protocol"),
    [(os.system, f"{os.system.__module__}.system", 2), (exec, "builtins.exec", 5)],
)
def test_a_cifar_batch_with_a_code_payload_is_refused_without_running_it(tmp_path, call, refused, protocol):
    folder, _, _ = cifar(tmp_path)
    marker = tmp_path / "payload-ran"
    crafted = crafted_batch(marker, call, protocol)
    (folder / "data_batch_3").write_bytes(crafted)
    dm = ImageDataModule(CIFAR10Reader, root=str(tmp_path / "cifar"), download=False, batch_size=4)
    with pytest.raises(DataError) as info:
        set_up(dm)
    message = str(info.value)
    assert not marker.exists()  # nothing in the file ran
    assert f"{folder / 'data_batch_3'} holds a pickled object of type {refused}" in message
    assert "could run code when read, so it was not loaded" in message and "get an intact copy" in message
    assert "cifar-10-python.tar.gz" in message  # where an intact copy comes from

    pickle.loads(crafted)  # the payload is live: plain pickle.load runs it
    assert marker.exists()


def test_a_crafted_cifar_batch_is_one_paragraph_at_the_command_line(tmp_path):
    folder, _, _ = cifar(tmp_path)
    marker = tmp_path / "payload-ran"
    (folder / "test_batch").write_bytes(crafted_batch(marker))
    out = run_cli(
        "train.py",
        "data=cifar10",
        f"data.root={tmp_path / 'cifar'}",
        "data.download=false",
        "model=mlp",
        *TINY,
        f"hydra.run.dir={tmp_path / 'run'}",
        env={"OMP_NUM_THREADS": "1"},
    )
    assert_one_paragraph(out, 2, f"{folder / 'test_batch'} holds a pickled object of type", ".system")
    assert not marker.exists()


def test_a_pickled_imagenet32_batch_with_a_code_payload_is_refused(tmp_path):
    train = [labelled_images(6, 32, 32, 3, seed=i) for i in range(10)]
    write_imagenet32(tmp_path / "in32", train, labelled_images(4, 32, 32, 3, seed=11), fmt="pickle")
    marker = tmp_path / "payload-ran"
    (tmp_path / "in32/train_data_batch_7").write_bytes(crafted_batch(marker))
    with pytest.raises(DataError, match="train_data_batch_7 holds a pickled object of type .*system") as info:
        set_up(ImageDataModule(ImageNet32Reader, root=str(tmp_path / "in32"), batch_size=4))
    assert "ImageNet 32x32 batches hold only dicts, lists, bytes and numpy arrays" in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize(("protocol", "byte_keys"), [(2, True), (2, False), (4, True), (5, False)])
def test_honest_cifar_batches_of_every_protocol_still_load(tmp_path, protocol, byte_keys):
    _, train, test = cifar(tmp_path, protocol=protocol, byte_keys=byte_keys)
    dm = set_up(ImageDataModule(CIFAR10Reader, root=str(tmp_path / "cifar"), download=False, batch_size=4))
    expected = np.concatenate([images for images, _ in train]).transpose(0, 3, 1, 2)
    assert torch.equal(dm.source.real, torch.from_numpy(expected))
    assert dm.source.label.tolist() == np.concatenate([labels for _, labels in train]).tolist()
    assert torch.equal(dm.val_source.real, torch.from_numpy(test[0].transpose(0, 3, 1, 2).copy()))


def test_a_batch_pickled_by_numpy_1_still_loads(tmp_path):
    """numpy 1 names its array reconstruction numpy.core.multiarray (numpy 2: numpy._core.multiarray)."""
    folder, train, _ = cifar(tmp_path, protocol=2)
    for name in [f"data_batch_{i}" for i in range(1, 6)]:
        raw = (folder / name).read_bytes()
        assert b"numpy._core.multiarray\n_reconstruct" in raw
        (folder / name).write_bytes(raw.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n"))
    dm = set_up(ImageDataModule(CIFAR10Reader, root=str(tmp_path / "cifar"), download=False, batch_size=4))
    assert dm.source.label.tolist() == np.concatenate([labels for _, labels in train]).tolist()


@pytest.mark.parametrize("path", [None, "", "???"])
def test_the_text_module_without_a_path_says_how_to_get_a_corpus(path):
    with pytest.raises(DataError) as info:
        set_up(TextDataModule(path, batch_size=4))
    message = str(info.value)
    assert "data=text needs data.path" in message and "data.path=/path/to/file.txt" in message
    assert "scripts/prepare_text.py" in message
    assert (REPO / "scripts/prepare_text.py").is_file()
    with pytest.raises(DataError, match="data=billion_word needs data.root"):
        set_up(BillionWordDataModule(path, batch_size=4))


def test_a_subset_larger_than_the_training_split_is_a_data_error(tmp_path):
    with pytest.raises(UserInputError) as info:
        train(compose_config(tmp_path / "run", [*TINY, "data=digits", "model=mlp", "data.subset=1000000"]))
    assert isinstance(info.value, DataError)
    message = str(info.value)
    assert "data.subset=1000000 is larger than the digits training split, which holds 1617 images" in message
    assert "Lower data.subset to at most 1617, or set data.subset=null" in message
    assert not (tmp_path / "run/checkpoints").exists()


def test_every_module_with_a_subset_checks_its_size(tmp_path):
    root, n_train = tmp_path / "mnist", 40
    train_set, test_set = labelled_images(n_train, 28, 28, 1, seed=1), labelled_images(12, 28, 28, 1, seed=2)
    write_mnist(root / "MNIST/raw", (train_set[0][..., 0], train_set[1]), (test_set[0][..., 0], test_set[1]))
    cifar(tmp_path, n=8)  # 5 batches of 8: 40 training images
    modules = {
        "MNIST": lambda s: ImageDataModule(MNISTReader, root=str(root), download=False, subset=s, batch_size=4),
        "CIFAR-10": lambda s: ImageDataModule(
            CIFAR10Reader, root=str(tmp_path / "cifar"), download=False, subset=s, batch_size=4
        ),
        "digits": lambda s: ImageDataModule(DigitsReader, val_fraction=0.1, subset=s, batch_size=4),
    }
    sizes = {"MNIST": n_train, "CIFAR-10": 40, "digits": 1617}
    for name, make in modules.items():
        n = sizes[name]
        with pytest.raises(DataError, match=rf"data.subset={n + 1} is larger than the {name} training split, "):
            set_up(make(n + 1))
        for bad in (0, -3, 2.5, "many"):
            with pytest.raises(DataError, match=rf"set it to a whole number from 1 to {n}"):
                set_up(make(bad))
        assert len(set_up(make(n)).source) == n  # the whole split is a valid subset
        assert len(set_up(make(7)).source) == 7
