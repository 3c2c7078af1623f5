"""Build the CIFAR-10 subset shipped in ``tenas_automl/_data/cifar10-sample.npz``.

Source: ``shared/data/cifar10-sample.npz`` (real CIFAR-10 images, Krizhevsky
2009: the first 932 images of each training batch and the first 846 of the
test batch, in the original order).

What the bundle holds (defaults below, about 3.5 MB compressed):

- ``train_images`` (1000, 32, 32, 3) uint8, ``train_labels`` (1000,) uint8:
  the first 100 training images of each of the 10 classes, in source order;
- ``test_images`` (250, 32, 32, 3) uint8, ``test_labels`` (250,) uint8:
  the first 25 test images of each class, in source order;
- ``label_names`` (10,) str, and ``description``, a one-line provenance note.

The selection uses no randomness ("first k per class"), so rerunning the
script on the same source reproduces the bundle byte for byte in its arrays
(``tests/test_data.py`` checks this). Usage::

    python scripts/bundle_sample.py [--source PATH] [--output PATH]
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "data" / "cifar10-sample.npz"
DEFAULT_OUTPUT = REPO / "tenas_automl" / "_data" / "cifar10-sample.npz"
TRAIN_PER_CLASS = 100
TEST_PER_CLASS = 25
NUM_CLASSES = 10


def first_per_class(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Indices of the first ``per_class`` items of every class, in original order."""
    picks = []
    for c in range(NUM_CLASSES):
        idx = np.flatnonzero(labels == c)[:per_class]
        if len(idx) < per_class:
            raise SystemExit(f"class {c} has only {len(idx)} images, need {per_class}")
        picks.append(idx)
    return np.sort(np.concatenate(picks))


def build_sample(
    source: Path = DEFAULT_SOURCE,
    train_per_class: int = TRAIN_PER_CLASS,
    test_per_class: int = TEST_PER_CLASS,
) -> dict[str, np.ndarray]:
    """The arrays of the bundle, selected from ``source``."""
    with np.load(source, allow_pickle=False) as src:
        tr = first_per_class(src["train_labels"], train_per_class)
        te = first_per_class(src["test_labels"], test_per_class)
        description = (
            f"CIFAR-10 (Krizhevsky 2009) subset: first {train_per_class} train and "
            f"{test_per_class} test images per class of {source.name}, original order"
        )
        return {
            "train_images": np.ascontiguousarray(src["train_images"][tr], dtype=np.uint8),
            "train_labels": src["train_labels"][tr].astype(np.uint8),
            "test_images": np.ascontiguousarray(src["test_images"][te], dtype=np.uint8),
            "test_labels": src["test_labels"][te].astype(np.uint8),
            "label_names": src["label_names"].astype(str),
            "description": np.array(description),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--train-per-class", type=int, default=TRAIN_PER_CLASS)
    parser.add_argument("--test-per-class", type=int, default=TEST_PER_CLASS)
    args = parser.parse_args()
    arrays = build_sample(args.source, args.train_per_class, args.test_per_class)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.output, **arrays)
    digest = hashlib.sha256(args.output.read_bytes()).hexdigest()
    size_mb = args.output.stat().st_size / 1e6
    print(f"wrote {args.output} ({size_mb:.2f} MB, sha256 {digest})")
    for key, value in arrays.items():
        print(f"  {key}: {value.shape} {value.dtype}")


if __name__ == "__main__":
    main()
