"""Reading image datasets from files: the bundled sample, ``.npz`` arrays, and the pickle folders.

The formats are those of NAS-Bench-201's set-up (see :mod:`tenas_automl.data`);
pickles are read with an unpickler that only accepts numpy arrays.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from tenas_automl.errors import DataError


@dataclass(frozen=True)
class _Layout:
    """How one dataset is stored as pickles in NAS-Bench-201's set-up."""

    folder: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    label_key: str
    side: int
    one_based: bool = False


LAYOUTS: dict[str, _Layout] = {
    "cifar10": _Layout(
        "cifar-10-batches-py",
        tuple(f"data_batch_{i}" for i in range(1, 6)),
        ("test_batch",),
        "labels",
        32,
    ),
    "cifar100": _Layout("cifar-100-python", ("train",), ("test",), "fine_labels", 32),
    "ImageNet16-120": _Layout(
        "ImageNet16",
        tuple(f"train_data_batch_{i}" for i in range(1, 11)),
        ("val_data",),
        "labels",
        16,
        one_based=True,
    ),
}


def box_downsample(images: np.ndarray, side: int) -> np.ndarray:
    """``(N, H, W, 3)`` uint8 images averaged over square blocks to ``side`` x ``side``."""
    h = images.shape[1]
    if h == side:
        return images
    f = h // side
    blocks = images.reshape(len(images), side, f, side, f, 3).astype(np.float32).mean(axis=(2, 4))
    return np.rint(blocks).astype(np.uint8)


_NPZ_KEYS = ("train_images", "train_labels", "test_images", "test_labels")


def _arrays_from_npz(file: BinaryIO | Path, where: str) -> dict[str, np.ndarray]:
    try:
        with np.load(file, allow_pickle=False) as npz:
            missing = [k for k in _NPZ_KEYS if k not in npz.files]
            if missing:
                raise DataError(f"{where} lacks the arrays {', '.join(missing)}; expected {', '.join(_NPZ_KEYS)}")
            return {k: npz[k] for k in _NPZ_KEYS}
    except DataError:
        raise
    except Exception as exc:  # any parse failure of a user file is bad data
        raise DataError(f"{where} is not a readable .npz file: {exc}") from exc


def read_bundled() -> dict[str, np.ndarray]:
    resource = resources.files("tenas_automl").joinpath("_data", "cifar10-sample.npz")
    if not resource.is_file():
        raise DataError(f"the bundled CIFAR-10 sample {resource} is missing; reinstall tenas-automl or pass --data-dir")
    with resource.open("rb") as file:
        return _arrays_from_npz(file, str(resource))


def read_npz(path: Path) -> dict[str, np.ndarray]:
    return _arrays_from_npz(path, str(path))


def find_folder(dataset: str, path: Path) -> Path:
    """``path`` itself or ``path/<layout folder>``, whichever holds every file."""
    layout = LAYOUTS[dataset]
    files = layout.train_files + layout.test_files
    expected = f"the {dataset} folder {layout.folder!r} (files {_short(files)}) or its parent"
    if not path.exists():
        raise DataError(f"data folder {path} does not exist; expected {expected}")
    if not path.is_dir():
        raise DataError(f"{path} is not a folder or an .npz file; expected {expected}")
    candidates = [path / layout.folder, path]
    for folder in candidates:
        if all((folder / f).is_file() for f in files):
            return folder
    folder = next(c for c in candidates if c.is_dir())
    missing = [f for f in files if not (folder / f).is_file()]
    raise DataError(f"{folder} lacks {_short(missing)}; expected {expected}")


def _short(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(names) if len(names) <= 3 else f"{names[0]} .. {names[-1]}"


def read_pickle_folder(dataset: str, folder: Path, num_classes: int) -> dict[str, np.ndarray]:
    """Train and test arrays of ``dataset`` from its pickle ``folder`` (see :func:`find_folder`)."""
    layout = LAYOUTS[dataset]
    arrays: dict[str, np.ndarray] = {}
    for split, files in (("train", layout.train_files), ("test", layout.test_files)):
        images, labels = [], []
        for name in files:
            x, y = _read_batch(folder / name, layout, num_classes)
            images.append(x)
            labels.append(y)
        arrays[f"{split}_images"] = np.ascontiguousarray(np.concatenate(images))
        arrays[f"{split}_labels"] = np.concatenate(labels)
        if not len(arrays[f"{split}_labels"]):
            raise DataError(f"{folder}: the {split} files hold no image of classes 0..{num_classes - 1}")
    return arrays


def _read_batch(file: Path, layout: _Layout, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, side, side, 3) uint8 and 0-based labels of one pickled batch."""
    entry = _unpickle(file)
    for key in ("data", layout.label_key):
        if key not in entry:
            raise DataError(f"{file} has no {key!r} entry; found keys {sorted(entry)}")
    data = np.asarray(entry["data"])
    labels = np.asarray(entry[layout.label_key])
    numel = 3 * layout.side * layout.side
    if data.ndim != 2 or data.shape[1] != numel or data.dtype.kind not in "iu":
        raise DataError(
            f"{file}: 'data' has shape {data.shape} and dtype {data.dtype}; expected "
            f"integers of shape (N, {numel}) ({layout.side}x{layout.side} RGB, channel-major)"
        )
    if labels.shape != (len(data),) or labels.dtype.kind not in "iu":
        raise DataError(f"{file}: {layout.label_key!r} has shape {labels.shape}; expected {len(data)} integers")
    if data.dtype != np.uint8 and len(data) and (data.min() < 0 or data.max() > 255):
        raise DataError(f"{file}: pixel values outside 0..255")
    if layout.one_based:
        if len(labels) and labels.min() < 1:
            raise DataError(f"{file}: labels must be 1-based in this format; found {labels.min()}")
        keep = labels <= num_classes  # ImageNet16-120: the first 120 of 1000 classes
        data, labels = data[keep], labels[keep] - 1
    elif len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(f"{file}: labels range over [{labels.min()}, {labels.max()}]; expected 0 .. {num_classes - 1}")
    images = data.astype(np.uint8, copy=False).reshape(-1, 3, layout.side, layout.side)
    return images.transpose(0, 2, 3, 1), labels.astype(np.int64)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that resolves only what pickled numpy arrays need."""

    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # bytes pickled with protocol < 3
        *((mod, name) for mod in ("numpy.core.multiarray", "numpy._core.multiarray") for name in ("_reconstruct", "scalar")),
        *((mod, "_frombuffer") for mod in ("numpy.core.numeric", "numpy._core.numeric")),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: not a numpy array")
        return super().find_class(module, name)


def _unpickle(file: Path) -> dict[str, Any]:
    try:
        with open(file, "rb") as f:
            # latin1 reads the Python 2 pickles that CIFAR and ImageNet16 ship as.
            entry = _NumpyOnlyUnpickler(f, encoding="latin1").load()
    except Exception as exc:  # any parse failure of a user file is bad data
        raise DataError(f"{file} is not a readable dataset pickle: {exc}") from exc
    if not isinstance(entry, dict):
        raise DataError(f"{file} holds a {type(entry).__name__}; expected a dict with 'data'")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in entry.items()}
