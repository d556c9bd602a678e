"""Image data modules on tiny files in the released formats, read through the code users run."""

import pickle

import numpy as np
import pytest
import torch

from conftest import set_up
from wgangp.build import build
from wgangp.data.errors import DataError
from wgangp.data.finite import DecodeSource, TensorSource, materialise, split_indices, subset_indices
from wgangp.data.images import ImageDataModule
from wgangp.data.readers import (
    CIFAR10Reader,
    DigitsReader,
    ImageFolderReader,
    ImageNet32Reader,
    LSUNReader,
    MNISTReader,
)
from wgangp.data.writers import (
    labelled_images,
    write_cifar10,
    write_image_folder,
    write_imagenet32,
    write_lmdb,
    write_mnist,
)
from wgangp.train import train


def unit(images_hwc):
    """What a module must deliver for uint8 (N, H, W, C): float (N, C, H, W) in [-1, 1]."""
    return torch.from_numpy(images_hwc).permute(0, 3, 1, 2).float() / 127.5 - 1


def assert_aligned(batch):
    """labelled_images wrote 20 * label into pixel (0, 0): every image must arrive with its own label."""
    pixel = ((batch["real"][..., 0, 0, 0] + 1) * 127.5).round().long()
    assert torch.equal(pixel, 20 * batch["label"])


def through_loader(dm):
    """One generator iteration's batch exactly as training sees it (loader, then the device hook)."""
    batch = next(iter(dm.train_dataloader()))
    return dm.on_after_batch_transfer(batch, 0)


def mnist_root(tmp_path, folder="MNIST"):
    train, test = labelled_images(40, 28, 28, 1, seed=1), labelled_images(12, 28, 28, 1, seed=2)
    write_mnist(tmp_path / "mnist" / folder / "raw", (train[0][..., 0], train[1]), (test[0][..., 0], test[1]))
    return tmp_path / "mnist", train, test


def cifar_root(tmp_path):
    train = [labelled_images(8, 32, 32, 3, seed=i) for i in range(5)]
    test = labelled_images(6, 32, 32, 3, seed=9)
    write_cifar10(tmp_path / "cifar", train, test)
    return tmp_path / "cifar", train, test


def imagenet_root(tmp_path, fmt="npz"):
    train = [labelled_images(4, 32, 32, 3, seed=i) for i in range(10)]
    val = labelled_images(5, 32, 32, 3, seed=20)
    write_imagenet32(tmp_path / "imagenet32", train, val, fmt)
    return tmp_path / "imagenet32", train, val


def lsun_root(tmp_path, n=12):
    # 48 x 80 (H x W) images: a 16-pixel red band at each side, green in the centre square.
    images = np.zeros((n, 48, 80, 3), dtype=np.uint8)
    images[:, :, :16, 0] = images[:, :, -16:, 0] = 255
    images[:, :, 16:-16, 1] = 255
    for split in ("train", "val"):
        write_lmdb(tmp_path / "lsun" / f"bedroom_{split}_lmdb", images[: n if split == "train" else 3])
    return tmp_path / "lsun"


@pytest.mark.parametrize(
    "folder,cls", [("MNIST", "torchvision.datasets.MNIST"), ("FashionMNIST", "torchvision.datasets.FashionMNIST")]
)
def test_mnist_family_idx_files(tmp_path, folder, cls):
    root, (train_x, train_y), (test_x, test_y) = mnist_root(tmp_path, folder)
    dm = set_up(
        ImageDataModule(
            MNISTReader, root=str(root), dataset_class=cls, download=False, batch_size=8, batches_per_step=5
        )
    )
    assert dm.data_shape == (1, 28, 28)
    everything = dm.source.gather(torch.arange(40))
    torch.testing.assert_close(everything["real"], unit(train_x))
    assert torch.equal(everything["label"], torch.from_numpy(train_y))
    held_out = dm.val_source.gather(torch.arange(12))  # the t10k files
    torch.testing.assert_close(held_out["real"], unit(test_x))
    batch = through_loader(dm)
    assert batch["real"].shape == (5, 8, 1, 28, 28) and batch["label"].dtype == torch.int64
    assert batch["real"].min() >= -1 and batch["real"].max() <= 1
    assert_aligned(batch)


def test_mnist_resize_and_subset(tmp_path):
    root, *_ = mnist_root(tmp_path)
    dm = set_up(ImageDataModule(MNISTReader, root=str(root), image_size=32, download=False, subset=10, batch_size=4))
    assert dm.data_shape == (1, 32, 32) and len(dm.source) == 10 and len(dm.val_source) == 12
    assert dm.source.real.shape == (10, 1, 32, 32)


def test_cifar10_python_batches(tmp_path):
    root, train, (test_x, test_y) = cifar_root(tmp_path)
    dm = set_up(ImageDataModule(CIFAR10Reader, root=str(root), download=False, batch_size=16, batches_per_step=2))
    assert dm.data_shape == (3, 32, 32) and len(dm.source) == 40
    everything = dm.source.gather(torch.arange(40))
    torch.testing.assert_close(everything["real"], unit(np.concatenate([x for x, _ in train])))
    assert torch.equal(everything["label"], torch.from_numpy(np.concatenate([y for _, y in train])))
    torch.testing.assert_close(dm.val_source.gather(torch.arange(6))["real"], unit(test_x))
    batch = through_loader(dm)
    assert batch["real"].shape == (2, 16, 3, 32, 32)
    assert_aligned(batch)


@pytest.mark.parametrize("fmt", ["npz", "pickle"])
@pytest.mark.parametrize("in_memory", [False, True])
def test_imagenet32_batches(tmp_path, fmt, in_memory):
    root, train, (val_x, val_y) = imagenet_root(tmp_path, fmt)
    dm = set_up(
        ImageDataModule(ImageNet32Reader, root=str(root), in_memory=in_memory, batch_size=8, batches_per_step=3)
    )
    assert dm.data_shape == (3, 32, 32) and len(dm.source) == 40
    rows = dm.source.dataset if not in_memory else None
    if rows is not None:  # streamed: item 13 is batch 4's second row, its label back to 0-based
        image, label = rows[13]
        assert torch.equal(image, torch.from_numpy(train[3][0][1]).permute(2, 0, 1)) and label == train[3][1][1]
    held_out = dm.val_source.sample(64, torch.Generator().manual_seed(0))
    assert_aligned(held_out)
    assert set(held_out["label"].tolist()) <= set(val_y.tolist())
    batch = through_loader(dm)
    assert batch["real"].shape == (3, 8, 3, 32, 32)
    assert_aligned(batch)


@pytest.mark.parametrize("size", [64, 128])
def test_lsun_lmdb_centre_crop_then_resize(tmp_path, size):
    dm = set_up(
        ImageDataModule(LSUNReader, root=str(lsun_root(tmp_path)), image_size=size, batch_size=4, batches_per_step=2)
    )
    assert dm.data_shape == (3, size, size)
    batch = through_loader(dm)
    assert batch["real"].shape == (2, 4, 3, size, size) and "label" not in batch
    # The red side bands are cropped away: only the green centre square is left.
    torch.testing.assert_close(batch["real"][:, :, 1], torch.ones(2, 4, size, size), atol=0.02, rtol=0)
    torch.testing.assert_close(batch["real"][:, :, 0], -torch.ones(2, 4, size, size), atol=0.02, rtol=0)
    assert len(dm.val_source) == 3


def test_lmdb_workers_draw_the_same_stream(tmp_path):
    root = lsun_root(tmp_path)
    batches = {}
    for workers in (0, 2):
        dm = set_up(
            ImageDataModule(LSUNReader, root=str(root), image_size=16, batch_size=4, num_workers=workers, seed=3)
        )
        loader = iter(dm.train_dataloader())
        batches[workers] = [next(loader)["real"] for _ in range(3)]
    assert all(torch.equal(a, b) for a, b in zip(batches[0], batches[2], strict=True))


def test_image_folder_recursive_grey_and_colour(tmp_path):
    images, _ = labelled_images(10, 40, 30, 3)
    write_image_folder(tmp_path / "imgs", images)
    dm = set_up(
        ImageDataModule(ImageFolderReader, root=str(tmp_path / "imgs"), image_size=30, in_memory=True, val_fraction=0.2)
    )
    assert dm.data_shape == (3, 30, 30) and len(dm.source) == 8 and len(dm.val_source) == 2
    # 40 x 30 -> centre 30 x 30 square (rows 5..34), no resize: the exact pixels.
    found = dm.source.real.flatten(1)
    expected = torch.from_numpy(images[:, 5:35]).permute(0, 3, 1, 2).flatten(1)
    assert all((expected == row).all(1).any() for row in found)
    grey = set_up(
        ImageDataModule(ImageFolderReader, root=str(tmp_path / "imgs"), image_size=16, channels=1, batch_size=4)
    )
    assert grey.data_shape == (1, 16, 16)
    assert through_loader(grey)["real"].shape == (1, 4, 1, 16, 16)


def test_digits_upsampled_with_labels_and_held_out_split():
    from sklearn.datasets import load_digits

    dm = set_up(ImageDataModule(DigitsReader, val_fraction=0.1, batch_size=8, batches_per_step=5))
    assert dm.data_shape == (1, 32, 32)
    assert len(dm.source) + len(dm.val_source) == 1797 and len(dm.val_source) == 180
    digits = load_digits()
    i = 7  # a training row: its 8x8 mean grey level survives the upsampling, and its label matches
    row = dm.source.select(torch.arange(len(dm.source)))
    everything = torch.cat([dm.source.real, dm.val_source.real])
    assert everything.unique(dim=0).shape[0] == everything.shape[0] - (
        1797 - np.unique(digits.images.reshape(1797, -1), axis=0).shape[0]
    )  # the split neither drops nor duplicates rows
    mean = (row.real[i].float().mean() / 255 * 16).item()
    matches = np.flatnonzero(np.abs(digits.images.reshape(1797, -1).mean(1) - mean) < 0.1)
    assert row.label[i].item() in set(digits.target[matches].tolist())
    batch = through_loader(dm)
    assert batch["real"].shape == (5, 8, 1, 32, 32) and -1 <= batch["real"].min() < batch["real"].max() <= 1


# ---- the held-out split and the subset: one implementation for every format --------------------------------------


def tiny_files(tmp_path):
    """Each reader with its options, on tiny files in its real format (distinct images, so rows are identifiable)."""
    lsun = tmp_path / "lsun"
    write_lmdb(lsun / "bedroom_train_lmdb", labelled_images(12, 16, 16, 3, seed=3)[0], "png")
    write_lmdb(lsun / "bedroom_val_lmdb", labelled_images(3, 16, 16, 3, seed=4)[0], "png")
    write_image_folder(tmp_path / "imgs", labelled_images(10, 16, 16, 3, seed=5)[0])
    return {
        "mnist": (MNISTReader, {"root": str(mnist_root(tmp_path)[0]), "download": False}),
        "cifar10": (CIFAR10Reader, {"root": str(cifar_root(tmp_path)[0]), "download": False}),
        "imagenet32": (ImageNet32Reader, {"root": str(imagenet_root(tmp_path)[0])}),
        "lsun": (LSUNReader, {"root": str(lsun), "image_size": 16}),
        "image_folder": (ImageFolderReader, {"root": str(tmp_path / "imgs"), "image_size": 16}),
        "digits": (DigitsReader, {"image_size": 8}),
    }


def in_memory(images):
    """Images as uint8 rows with their labels: a split held in memory or decoded per index, or what a reader read."""
    if isinstance(images, TensorSource):
        return images
    return materialise(images.dataset if isinstance(images, DecodeSource) else images)


def assert_rows(source, everything, index):
    """`source` holds exactly the rows `index` of `everything`, in that order, each with its own label."""
    found = in_memory(source)
    assert torch.equal(found.real, everything.real[index])
    assert (found.label is None) == (everything.label is None)
    if found.label is not None:
        assert torch.equal(found.label, everything.label[index])


@pytest.mark.parametrize(
    ("fmt", "streamed"),  # streamed: decoded per index (in_memory=false), for the formats that can be
    [("mnist", False), ("cifar10", False), ("digits", False)]
    + [(fmt, streamed) for fmt in ("imagenet32", "lsun", "image_folder") for streamed in (True, False)],
)
def test_split_and_subset_are_the_same_for_every_format(tmp_path, fmt, streamed):
    reader, options = tiny_files(tmp_path)[fmt]
    make = lambda **kw: set_up(ImageDataModule(reader, in_memory=not streamed, batch_size=4, **options, **kw))
    everything = in_memory(reader(**options).read("train"))  # every training image, in the files' order
    n = len(everything)
    train, val = split_indices(n, 0.25)  # a permutation seeded with 0: fixed for every run and format
    assert len(val) == round(n / 4) and sorted(train.tolist() + val.tolist()) == list(range(n))  # disjoint, whole
    chosen = train[subset_indices(len(train), 5)]  # seeded with 1, drawn from what the split left for training

    dm = make(val_fraction=0.25, subset=5, seed=1)
    assert len(dm.source) == 5
    assert_rows(dm.source, everything, chosen)
    assert_rows(dm.val_source, everything, val)
    assert_rows(make(val_fraction=0.25, seed=2).source, everything, train)  # no subset: the whole training split
    again = make(val_fraction=0.25, subset=5, seed=7)  # the run seed moves the stream, not the rows
    assert torch.equal(in_memory(again.source).real, in_memory(dm.source).real)

    if reader.held_out:  # data.val_fraction=null: the release's held-out files, the subset from all training files
        official = make(subset=5)
        assert_rows(official.source, everything, subset_indices(n, 5))
        held_out = in_memory(reader(**options).read("val"))
        assert_rows(official.val_source, held_out, torch.arange(len(held_out)))
    else:
        with pytest.raises(DataError, match=r"no held-out files.*set data.val_fraction"):
            make(subset=5).val_source  # noqa: B018
    with pytest.raises(DataError, match=rf"data.subset={len(train) + 1} is larger than the .* training split"):
        make(val_fraction=0.25, subset=len(train) + 1)


# ---- bad input: one DataError paragraph naming the path, what was expected, how to get it ---------------------


def test_missing_mnist_with_download_off_names_path_and_files(tmp_path):
    with pytest.raises(DataError, match=r"MNIST/raw.*train-images-idx3-ubyte.*data.download=true"):
        set_up(ImageDataModule(MNISTReader, root=str(tmp_path / "nothing"), download=False))


def test_failed_download_is_a_data_error(tmp_path, monkeypatch):
    import torchvision.datasets.mnist as tv_mnist
    import torchvision.datasets.utils as tv_utils

    def offline(*args, **kwargs):
        raise RuntimeError("<urlopen error [Errno -2] Name or service not known>")

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", offline)
    monkeypatch.setattr(tv_utils, "download_and_extract_archive", offline)
    with pytest.raises(DataError, match=r"FashionMNIST/raw.*the download failed.*Name or service not known"):
        set_up(
            ImageDataModule(
                MNISTReader, root=str(tmp_path), dataset_class="torchvision.datasets.FashionMNIST", download=True
            )
        )
    with pytest.raises(DataError, match=r"cifar-10-batches-py.*download failed.*cifar-10-python.tar.gz"):
        set_up(ImageDataModule(CIFAR10Reader, root=str(tmp_path), download=True))


def test_truncated_idx_file(tmp_path):
    root, *_ = mnist_root(tmp_path)
    path = root / "MNIST/raw/train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataError, match=r"MNIST/raw could not be read.*truncated or corrupt"):
        set_up(ImageDataModule(MNISTReader, root=str(root), download=False))


def test_truncated_cifar_batch(tmp_path):
    root, *_ = cifar_root(tmp_path)
    path = root / "cifar-10-batches-py/data_batch_3"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DataError, match=r"data_batch_3 is not a readable CIFAR-10 batch.*truncated"):
        set_up(ImageDataModule(CIFAR10Reader, root=str(root), download=False))


def test_missing_cifar_batches(tmp_path):
    root, *_ = cifar_root(tmp_path)
    (root / "cifar-10-batches-py/data_batch_5").unlink()
    with pytest.raises(DataError, match=r"missing data_batch_5.*cifar-10-python.tar.gz"):
        set_up(ImageDataModule(CIFAR10Reader, root=str(root), download=False))


def test_wrong_contents_of_a_batch(tmp_path):
    root, *_ = imagenet_root(tmp_path, "pickle")
    with open(root / "train_data_batch_2", "wb") as f:
        pickle.dump({"data": np.zeros((3, 100), np.uint8), "labels": [1, 2, 3]}, f)
    with pytest.raises(DataError, match=r"train_data_batch_2 does not hold a ImageNet 32x32 batch.*3072"):
        set_up(ImageDataModule(ImageNet32Reader, root=str(root)))


@pytest.mark.parametrize("cut", [200, -100])
def test_truncated_imagenet32_npz(tmp_path, cut):
    root, *_ = imagenet_root(tmp_path, "npz")
    path = root / "train_data_batch_7.npz"
    path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(DataError, match=r"train_data_batch_7.npz is not a readable ImageNet 32x32 batch"):
        set_up(ImageDataModule(ImageNet32Reader, root=str(root)))


def test_missing_imagenet32(tmp_path):
    with pytest.raises(DataError, match=r"missing train_data_batch_1, .*train_data_batch_10.*image-net.org"):
        set_up(ImageDataModule(ImageNet32Reader, root=str(tmp_path)))


def test_lmdb_that_does_not_open(tmp_path):
    bad = tmp_path / "lsun/bedroom_train_lmdb"
    bad.mkdir(parents=True)
    (bad / "data.mdb").write_bytes(b"not an lmdb" * 1000)
    with pytest.raises(DataError, match=r"bedroom_train_lmdb does not open as an LMDB.*data.mdb.*download.py"):
        set_up(ImageDataModule(LSUNReader, root=str(tmp_path / "lsun")))
    with pytest.raises(DataError, match=r"expected the LMDB directory .*church_outdoor_train_lmdb"):
        set_up(ImageDataModule(LSUNReader, root=str(tmp_path / "lsun"), category="church_outdoor"))


def test_lmdb_of_non_images(tmp_path):
    import lmdb

    env = lmdb.open(str(tmp_path / "bedroom_train_lmdb"), map_size=1 << 20)
    with env.begin(write=True) as txn:
        txn.put(b"k", b"garbage")
    env.close()
    with pytest.raises(DataError, match=r"entry b'k' of the LMDB .* is not a decodable image"):
        set_up(ImageDataModule(LSUNReader, root=str(tmp_path)))


def test_empty_or_missing_image_folder_and_corrupt_image(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"image folder .*empty is empty of images"):
        set_up(ImageDataModule(ImageFolderReader, root=str(tmp_path / "empty")))
    with pytest.raises(DataError, match=r"image folder .*absent does not exist"):
        set_up(ImageDataModule(ImageFolderReader, root=str(tmp_path / "absent")))
    (tmp_path / "empty" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match=r"broken.png is not a readable image"):
        set_up(ImageDataModule(ImageFolderReader, root=str(tmp_path / "empty"), in_memory=True, val_fraction=0))


# ---- every image data= option trains through Hydra ---------------------------------------------------------------


def image_roots(tmp_path):
    mnist, *_ = mnist_root(tmp_path)
    fashion, *_ = mnist_root(tmp_path / "f", "FashionMNIST")
    images, _ = labelled_images(6, 20, 24, 3)
    write_image_folder(tmp_path / "imgs", images)
    return {
        "digits": None,
        "mnist": mnist,
        "fashion_mnist": fashion,
        "cifar10": cifar_root(tmp_path)[0],
        "imagenet32": imagenet_root(tmp_path)[0],
        "lsun_bedroom": lsun_root(tmp_path),
        "image_folder": tmp_path / "imgs",
    }


@pytest.mark.parametrize(
    "data", ["digits", "mnist", "fashion_mnist", "cifar10", "imagenet32", "lsun_bedroom", "image_folder"]
)
def test_every_image_data_option_trains(tiny_config, tmp_path, data):
    root = image_roots(tmp_path)[data]
    overrides = [f"data={data}", "model=mlp", "objective=wgan_gp", "generator_iters=2", "data.num_workers=0"]
    if root is not None:
        overrides.append(f"data.root={root}")
    if data in ("mnist", "fashion_mnist", "cifar10"):
        overrides.append("data.download=false")
    if data in ("lsun_bedroom", "image_folder"):
        overrides.append("data.image_size=16")
    cfg = tiny_config(*overrides)
    datamodule, objective = build(cfg)
    before = [p.detach().clone() for p in objective.generator.parameters()]
    assert objective.generator(torch.randn(2, 128)).shape == (2, *datamodule.data_shape)
    train(cfg)
    ckpt = torch.load(tmp_path / "run/checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["wgangp"]["generator_iter"] == 2
    after = [v for k, v in ckpt["state_dict"].items() if k.startswith("generator.")]
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))  # the generator moved
    assert not (tmp_path / "run/value_surface.png").exists()  # toy diagnostics stay off on images


# ---- data.dequantize: the released CIFAR-10 scaling and noise ------------------------------------------------------


@pytest.mark.parametrize("where", ["cifar10 in memory", "imagenet32 decoded in the loader"])
def test_dequantize_is_2x_over_256_minus_half_plus_u_0_1_128_drawn_per_step(tmp_path, where):
    if where.startswith("cifar10"):
        root, *_ = cifar_root(tmp_path)
        make = lambda d: ImageDataModule(
            CIFAR10Reader, root=str(root), download=False, batch_size=16, batches_per_step=2, dequantize=d
        )
    else:
        root, *_ = imagenet_root(tmp_path)
        make = lambda d: ImageDataModule(
            ImageNet32Reader, root=str(root), batch_size=16, batches_per_step=2, dequantize=d
        )
    plain, noisy, again = (through_loader(set_up(make(d))) for d in (False, True, True))
    pixels = ((plain["real"] + 1) * 127.5).round()  # the uint8 values the step drew, (2, 16, 3, 32, 32)
    assert torch.equal(plain["label"], noisy["label"])  # the same rows: the noise is drawn after them
    noise = noisy["real"] - 2 * (pixels / 256 - 0.5)  # gan_cifar_resnet.py: 2 * (x / 256 - .5) + U[0, 1/128)
    assert noise.min() >= 0 and noise.max() < 1 / 128 + 1e-6
    assert noise.mean().item() == pytest.approx(1 / 256, rel=0.02)  # uniform over the grey level's bin
    assert noise.std().item() == pytest.approx(1 / 128 / 12**0.5, rel=0.02)
    assert noisy["real"].min() >= -1 and noisy["real"].max() < 1
    assert torch.equal(noisy["real"], again["real"])  # a function of (seed, step): resume and workers stay exact


def test_dequantize_noise_is_the_global_draws_slice_under_ddp():
    from wgangp.data.dequantize import Dequantized
    from wgangp.data.finite import IndexSource
    from wgangp.data.stream import StepSampler

    source = Dequantized(IndexSource(100), (1, 2, 2))
    one = StepSampler(source, seed=3, batches=2, batch_size=8)(5)
    ranks = [StepSampler(source, seed=3, batches=2, batch_size=4, rank=r, world_size=2)(5) for r in (0, 1)]
    for key in ("index", "noise"):
        assert torch.equal(torch.cat([r[key] for r in ranks], dim=1), one[key])


def test_dequantize_on_data_that_is_not_8_bit_images_is_refused(tiny_config):
    with pytest.raises(DataError, match="data.dequantize=true adds noise to 8-bit images"):
        build(tiny_config("+data.dequantize=true"))  # the 8 Gaussians
