"""Image data for scoring: the bundled CIFAR-10 sample, or a real dataset on disk.

Training-free indicators only need a few batches of real images, so by default
:func:`load_data` returns a small CIFAR-10 subset shipped inside the package
(1,000 training and 250 test images, 100 and 25 per class; see
``scripts/bundle_sample.py``); for ``cifar100`` and ``ImageNet16-120`` those
images stand in, with that dataset's classes, normalisation and resolution.
With ``data_dir`` it reads the full datasets in the formats NAS-Bench-201 uses:

- ``cifar10``: the python pickle folder ``cifar-10-batches-py`` (``data_batch_1``
  .. ``data_batch_5``, ``test_batch``);
- ``cifar100``: ``cifar-100-python`` (``train``, ``test``; fine labels);
- ``ImageNet16-120``: the down-sampled ImageNet pickles (``train_data_batch_1``
  .. ``train_data_batch_10``, ``val_data``; 16x16 images, 1-based labels), of
  which classes 1..120 are kept and renumbered 0..119.

``data_dir`` may be that folder or its parent; an ``.npz`` file with the arrays
``train_images``, ``train_labels``, ``test_images``, ``test_labels`` works too.
Images are normalised with the per-channel statistics of NAS-Bench-201's (and
TE-NAS's) code. Pickles are read with an unpickler that only accepts numpy
arrays, so a tampered file cannot run code.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tenas_automl._dataset_files import LAYOUTS, box_downsample, find_folder, read_bundled, read_npz, read_pickle_folder
from tenas_automl.device import resolve_device
from tenas_automl.errors import DataError, check_choice

logger = logging.getLogger(__name__)

DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
NUM_CLASSES: dict[str, int] = {"cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}
SPLITS = ("train", "test")
BUNDLED_SOURCE = "bundled sample"

Stats = tuple[float, float, float]


def _per_255(values: tuple[float, float, float]) -> Stats:
    return (values[0] / 255, values[1] / 255, values[2] / 255)


#: Per-channel mean and std in [0, 1] units, as in NAS-Bench-201's data code.
MEAN: dict[str, Stats] = {
    "cifar10": _per_255((125.3, 123.0, 113.9)),
    "cifar100": _per_255((129.3, 124.1, 112.4)),
    "ImageNet16-120": _per_255((122.68, 116.66, 104.01)),
}
STD: dict[str, Stats] = {
    "cifar10": _per_255((63.0, 62.1, 66.7)),
    "cifar100": _per_255((68.2, 65.4, 70.4)),
    "ImageNet16-120": _per_255((63.22, 61.26, 65.09)),
}


@dataclass(frozen=True, eq=False)
class ImageData:
    """A labelled image dataset, held in memory as read-only numpy arrays.

    Images are uint8 ``(N, H, W, 3)``; labels int64 in ``[0, num_classes)``.
    ``mean``/``std`` are the per-channel statistics used to normalise batches.
    Construct it directly to score on your own images.
    """

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    num_classes: int
    mean: Stats
    std: Stats
    source: str = "in memory"

    def __post_init__(self) -> None:
        for split in SPLITS:
            images, labels = self._validated(split)
            object.__setattr__(self, f"{split}_images", images)
            object.__setattr__(self, f"{split}_labels", labels)
        if self.train_images.shape[1:] != self.test_images.shape[1:]:
            raise DataError(
                f"train images have shape {self.train_images.shape[1:]} but test images "
                f"{self.test_images.shape[1:]}; both splits need the same image size"
            )
        for key in ("mean", "std"):
            stats = tuple(float(v) for v in getattr(self, key))
            if len(stats) != 3 or (key == "std" and min(stats) <= 0):
                raise DataError(f"{key} must be 3 per-channel values (std > 0); got {stats}")
            object.__setattr__(self, key, stats)

    def _validated(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        images = np.asarray(getattr(self, f"{split}_images"))
        labels = np.asarray(getattr(self, f"{split}_labels"))
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise DataError(f"{split}_images has shape {images.shape} and dtype {images.dtype}; expected uint8 (N, H, W, 3)")
        if labels.shape != images.shape[:1] or labels.dtype.kind not in "iu":
            raise DataError(
                f"{split}_labels has shape {labels.shape} and dtype {labels.dtype}; expected integers of shape ({len(images)},)"
            )
        if len(labels) and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise DataError(
                f"{split}_labels range over [{labels.min()}, {labels.max()}]; expected "
                f"0 .. {self.num_classes - 1} for {self.num_classes} classes"
            )
        # Read-only views: cached datasets are shared by every caller.
        images = images.view()
        images.flags.writeable = False
        labels = labels.astype(np.int64)
        labels.flags.writeable = False
        return images, labels

    @functools.cached_property
    def fingerprint(self) -> str:
        """A digest of everything scores depend on: images, labels, classes and
        normalisation. Score caches key values by it, so two datasets of the same
        name and size never share entries (hashing CIFAR-10's 50,000 images: 0.1 s)."""
        h = hashlib.sha256(repr((self.name, self.num_classes, self.mean, self.std)).encode())
        for split in SPLITS:
            images, labels = self.split(split)
            h.update(repr((split, images.shape)).encode())
            h.update(np.ascontiguousarray(images).data)
            h.update(np.ascontiguousarray(labels).data)
        return h.hexdigest()[:20]

    @property
    def image_size(self) -> tuple[int, int]:
        """Height and width of every image."""
        return self.train_images.shape[1], self.train_images.shape[2]

    def split(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """``(images, labels)`` of ``"train"`` or ``"test"``."""
        check_choice("split", split, SPLITS)
        return getattr(self, f"{split}_images"), getattr(self, f"{split}_labels")

    def __repr__(self) -> str:
        h, w = self.image_size
        return (
            f"ImageData(name={self.name!r}, train={len(self.train_images)}, "
            f"test={len(self.test_images)}, size={h}x{w}, "
            f"num_classes={self.num_classes}, source={self.source!r})"
        )


# -- loading -----------------------------------------------------------------


def load_data(dataset: str = "cifar10", data_dir: str | Path | None = None) -> ImageData:
    """Load ``dataset`` (one of :data:`DATASETS`), cached per dataset and folder.

    With ``data_dir=None`` this is the CIFAR-10 sample bundled with the package.
    For ``cifar100`` and ``ImageNet16-120`` the same images stand in, with that
    dataset's setting: its number of classes and normalisation, and for
    ImageNet16-120 its 16x16 resolution (2x2 box averaging, the filter
    ImageNet16 was down-sampled with), so indicators score the networks that
    dataset trains; pass ``data_dir`` to score on the dataset itself. Raises
    :class:`DataError` for a missing or malformed folder, naming the path and
    what was expected.
    """
    check_choice("dataset", dataset, DATASETS)
    if data_dir is None:
        return _load_cached(dataset, None)
    return _load_cached(dataset, Path(data_dir).expanduser().resolve())


def clear_cache() -> None:
    """Forget the datasets loaded so far (to free memory, or after files changed)."""
    _load_cached.cache_clear()


@functools.lru_cache(maxsize=4)
def _load_cached(dataset: str, path: Path | None) -> ImageData:
    if path is None:
        arrays, source = read_bundled(), BUNDLED_SOURCE
        if dataset != "cifar10":
            arrays = {k: box_downsample(v, LAYOUTS[dataset].side) if k.endswith("_images") else v for k, v in arrays.items()}
            source = f"{BUNDLED_SOURCE} (CIFAR-10 images standing in for {dataset})"
            logger.info("no data_dir: the bundled CIFAR-10 images stand in for %s, with its classes and size", dataset)
    elif path.is_file() and path.suffix == ".npz":
        arrays, source = read_npz(path), str(path)
    else:
        folder = find_folder(dataset, path)
        arrays, source = read_pickle_folder(dataset, folder, NUM_CLASSES[dataset]), str(folder)
    try:
        data = ImageData(
            name=dataset,
            num_classes=NUM_CLASSES[dataset],
            mean=MEAN[dataset],
            std=STD[dataset],
            source=source,
            **arrays,
        )
    except DataError as exc:
        raise DataError(f"{source}: {exc}") from exc
    logger.info("loaded %r", data)
    return data


# -- batches -----------------------------------------------------------------


def image_batch(
    data: ImageData,
    n: int,
    *,
    seed: int,
    split: str = "train",
    augment: bool = False,
    device: str | torch.device = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` distinct images of ``split`` drawn with ``numpy.random.default_rng(seed)``.

    Returns normalised float32 images ``(n, 3, H, W)`` and int64 labels on
    ``device``. ``augment`` applies the NAS-Bench-201 training transform: random
    crop with zero padding ``H // 8`` (4 for CIFAR, 2 for ImageNet16) and a
    horizontal flip with probability 1/2. The images drawn depend only on the
    seed, not on ``augment``.
    """
    images, labels = data.split(split)
    _check_count(n, len(images), f"the {split} split of {data.name} ({data.source})")
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(images), size=n, replace=False)
    batch = images[idx]
    if augment:
        batch = _crop_and_flip(batch, rng, pad=batch.shape[1] // 8)
    dev = resolve_device(device)
    return _normalise(batch, data, dev), torch.from_numpy(labels[idx]).to(dev)


def random_crops(data: ImageData, n: int, *, size: int = 3, seed: int, device: str | torch.device = "cpu") -> torch.Tensor:
    """TE-NAS linear-region inputs: ``(n, 1, size, size)`` float32.

    Each sample is a random ``size x size`` window (no padding) of a normalised
    training image, keeping one random channel. Images are visited in seeded
    random order without repeats until all have been used (like a shuffled
    data loader's epochs), so ``n`` may exceed the number of images.
    """
    images = data.train_images
    count, h, w, channels = images.shape
    if not isinstance(size, int) or not 1 <= size <= min(h, w):
        raise DataError(f"crop size {size!r} must be an integer in 1..{min(h, w)} for {h}x{w} images")
    _check_count(n, None, "random_crops")
    rng = np.random.default_rng(seed)
    epochs = math.ceil(n / count)
    idx = np.concatenate([rng.permutation(count) for _ in range(epochs)])[:n]
    top = rng.integers(0, h - size + 1, size=n)
    left = rng.integers(0, w - size + 1, size=n)
    channel = rng.integers(0, channels, size=n)
    window = np.arange(size)
    crops = images[
        idx[:, None, None],
        (top[:, None] + window)[:, :, None],
        (left[:, None] + window)[:, None, :],
        channel[:, None, None],
    ]  # (n, size, size)
    dev = resolve_device(device)
    mean = torch.tensor(data.mean, dtype=torch.float32, device=dev)
    std = torch.tensor(data.std, dtype=torch.float32, device=dev)
    ch = torch.from_numpy(channel).to(dev)
    x = torch.from_numpy(crops).to(dev).float().div_(255)
    x = (x - mean[ch].view(n, 1, 1)) / std[ch].view(n, 1, 1)
    return x.unsqueeze(1)


def check_images(
    x: object,
    *,
    channels: int = 3,
    min_batch: int = 1,
    min_size: int = 8,
    name: str = "images",
) -> torch.Tensor:
    """Return ``x`` if it is a finite float batch ``(N, channels, H, W)``, else raise.

    ``N >= min_batch`` and ``H, W >= min_size``. The :class:`DataError` names
    the shape found and the shape expected.
    """
    expected = f"(N>={min_batch}, {channels}, H>={min_size}, W>={min_size})"
    if not isinstance(x, torch.Tensor):
        raise DataError(f"{name} must be a torch.Tensor of shape {expected}; got {type(x).__name__}")
    shape = tuple(x.shape)
    if x.ndim != 4 or shape[1] != channels or shape[0] < min_batch or min(shape[2:]) < min_size:
        raise DataError(f"{name} has shape {shape}; expected {expected}")
    if not x.is_floating_point():
        raise DataError(f"{name} has dtype {x.dtype}; expected floating point (normalised images)")
    if not bool(torch.isfinite(x).all()):
        raise DataError(f"{name} contains NaN or infinite values")
    return x


def _check_count(n: int, available: int | None, what: str) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise DataError(f"number of images must be a positive integer; got {n!r}")
    if available is not None and n > available:
        raise DataError(f"asked for {n} images but {what} has only {available}")


def _crop_and_flip(batch: np.ndarray, rng: np.random.Generator, pad: int) -> np.ndarray:
    """Random crop after zero padding, and horizontal flip, in one gather."""
    n, h, w, _ = batch.shape
    padded = np.pad(batch, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    flip = rng.random(n) < 0.5
    top = rng.integers(0, 2 * pad + 1, size=n)
    left = rng.integers(0, 2 * pad + 1, size=n)
    rows = top[:, None] + np.arange(h)
    cols = left[:, None] + np.arange(w)
    # Reading a window's columns backwards is the flip of that window.
    cols = np.where(flip[:, None], cols[:, ::-1], cols)
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def _normalise(batch: np.ndarray, data: ImageData, device: torch.device) -> torch.Tensor:
    """uint8 NHWC -> float32 NCHW, ``(x / 255 - mean) / std`` as torchvision does."""
    x = torch.from_numpy(np.ascontiguousarray(batch)).to(device)
    x = x.permute(0, 3, 1, 2).contiguous().float().div_(255)
    mean = torch.tensor(data.mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    std = torch.tensor(data.std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    return (x - mean) / std


__all__ = [
    "BUNDLED_SOURCE",
    "DATASETS",
    "MEAN",
    "NUM_CLASSES",
    "STD",
    "ImageData",
    "check_images",
    "clear_cache",
    "image_batch",
    "load_data",
    "random_crops",
]
