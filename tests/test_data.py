"""Image data: bundled sample, dataset folders in NAS-Bench-201's formats, batches, crops."""

from __future__ import annotations

import importlib.util
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from tenas_automl.data import (
    BUNDLED_SOURCE,
    MEAN,
    STD,
    ImageData,
    check_images,
    image_batch,
    load_data,
    random_crops,
)
from tenas_automl.errors import DataError, UnknownNameError

REPO = Path(__file__).resolve().parents[1]


# -- helpers: tiny datasets in the real on-disk formats ------------------------


def _channel_major(images: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) -> (N, 3*H*W), the row layout of CIFAR and ImageNet16 pickles."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), -1)


def _dump(path: Path, obj: object, protocol: int = 2) -> None:
    path.write_bytes(pickle.dumps(obj, protocol=protocol))


def _images(rng: np.random.Generator, n: int, side: int) -> np.ndarray:
    return rng.integers(0, 256, size=(n, side, side, 3), dtype=np.uint8)


@pytest.fixture
def cifar10_root(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """A parent folder holding ``cifar-10-batches-py`` with 5 x 4 train and 3 test images."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    train_x, train_y = _images(rng, 20, 32), rng.integers(0, 10, 20)
    test_x, test_y = _images(rng, 3, 32), rng.integers(0, 10, 3)
    for b in range(5):
        sl = slice(4 * b, 4 * b + 4)
        entry = {"data": _channel_major(train_x[sl]), "labels": train_y[sl].tolist()}
        if b == 0:  # pickles written by Python 3 may carry bytes keys
            entry = {k.encode(): v for k, v in entry.items()}
        _dump(folder / f"data_batch_{b + 1}", entry, protocol=2 if b else 4)
    _dump(folder / "test_batch", {"data": _channel_major(test_x), "labels": test_y.tolist()})
    return tmp_path, {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y}


def _write_imagenet16(folder: Path, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """10 train batches and val_data with 1-based labels, some beyond class 120."""
    folder.mkdir()
    pool = np.array([1, 2, 60, 119, 120, 121, 500, 1000])
    xs, ys = [], []
    for b in range(10):
        x, y = _images(rng, 3, 16), rng.choice(pool, 3)
        _dump(folder / f"train_data_batch_{b + 1}", {"data": _channel_major(x), "labels": y.tolist(), "mean": 0})
        xs.append(x)
        ys.append(y)
    val_x, val_y = _images(rng, 4, 16), np.array([121, 3, 120, 999])
    _dump(folder / "val_data", {"data": _channel_major(val_x), "labels": val_y.tolist()})
    return {"train_x": np.concatenate(xs), "train_y": np.concatenate(ys), "test_x": val_x, "test_y": val_y}


def _reference(images: np.ndarray, dataset: str) -> np.ndarray:
    """Normalised images in float64, computed independently of the library."""
    return (images / 255.0 - np.array(MEAN[dataset])) / np.array(STD[dataset])


def _find_window(augmented: torch.Tensor, plain: torch.Tensor, pad: int, mean: tuple, std: tuple) -> tuple[int, int, bool] | None:
    """Brute force: which (top, left, flip) of the zero-padded image gives ``augmented``."""
    _, h, w = plain.shape
    pad_value = (torch.zeros(3) - torch.tensor(mean)) / torch.tensor(std)
    padded = pad_value.view(3, 1, 1).repeat(1, h + 2 * pad, w + 2 * pad)
    padded[:, pad : pad + h, pad : pad + w] = plain
    for top in range(2 * pad + 1):
        for left in range(2 * pad + 1):
            window = padded[:, top : top + h, left : left + w]
            for flip in (False, True):
                candidate = window.flip(-1) if flip else window
                if torch.allclose(candidate, augmented, atol=1e-6):
                    return top, left, flip
    return None


# -- the bundled sample --------------------------------------------------------


def test_bundled_sample_shapes_labels_and_cache() -> None:
    data = load_data()
    assert data.name == "cifar10" and data.source == BUNDLED_SOURCE and data.num_classes == 10
    assert data.train_images.shape == (1000, 32, 32, 3) and data.train_images.dtype == np.uint8
    assert data.test_images.shape == (250, 32, 32, 3) and data.test_images.dtype == np.uint8
    assert data.train_labels.dtype == np.int64 and data.test_labels.dtype == np.int64
    assert np.bincount(data.train_labels).tolist() == [100] * 10
    assert np.bincount(data.test_labels).tolist() == [25] * 10
    assert data.mean == MEAN["cifar10"] and data.std == STD["cifar10"]
    assert load_data("cifar10") is data  # cached
    assert not data.train_images.flags.writeable  # shared cache cannot be corrupted


def test_published_constants_are_nas_bench_201s() -> None:
    assert np.allclose(np.array(MEAN["cifar10"]) * 255, [125.3, 123.0, 113.9])
    assert np.allclose(np.array(STD["cifar100"]) * 255, [68.2, 65.4, 70.4])
    assert np.allclose(np.array(MEAN["ImageNet16-120"]) * 255, [122.68, 116.66, 104.01])


def test_bundled_sample_statistics_match_cifar10() -> None:
    pixels = load_data().train_images.reshape(-1, 3) / 255.0
    assert np.allclose(pixels.mean(0), MEAN["cifar10"], atol=0.02)
    assert np.allclose(pixels.std(0), STD["cifar10"], atol=0.02)
    x, _ = image_batch(load_data(), 1000, seed=0)
    assert torch.allclose(x.mean((0, 2, 3)), torch.zeros(3), atol=0.08)
    assert torch.allclose(x.std((0, 2, 3)), torch.ones(3), atol=0.08)


def test_bundle_is_reproduced_by_its_script(shared_data: Path) -> None:
    spec = importlib.util.spec_from_file_location("bundle_sample", REPO / "scripts" / "bundle_sample.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    rebuilt = script.build_sample(shared_data / "cifar10-sample.npz")
    with np.load(REPO / "tenas_automl" / "_data" / "cifar10-sample.npz") as bundled:
        for key, value in rebuilt.items():
            assert np.array_equal(bundled[key], value), key
    assert (REPO / "tenas_automl" / "_data" / "cifar10-sample.npz").stat().st_size < 5e6


# -- image_batch ---------------------------------------------------------------


def test_image_batch_normalises_distinct_images_with_their_labels() -> None:
    data = load_data()
    x, y = image_batch(data, 64, seed=3)
    assert x.shape == (64, 3, 32, 32) and x.dtype == torch.float32 and x.is_contiguous()
    assert y.shape == (64,) and y.dtype == torch.int64
    # Undo the normalisation and look every image up in the dataset.
    ref = _reference(data.train_images, "cifar10")
    found = []
    for i in range(64):
        diff = np.abs(ref - x[i].permute(1, 2, 0).double().numpy()).reshape(len(ref), -1).max(1)
        j = int(diff.argmin())
        assert diff[j] < 1e-5
        assert data.train_labels[j] == y[i]
        found.append(j)
    assert len(set(found)) == 64  # drawn without replacement


def test_image_batch_is_seeded() -> None:
    data = load_data()
    a, ya = image_batch(data, 32, seed=7)
    b, yb = image_batch(data, 32, seed=7)
    c, _ = image_batch(data, 32, seed=8)
    assert torch.equal(a, b) and torch.equal(ya, yb)
    assert not torch.equal(a, c)
    t1, _ = image_batch(data, 16, seed=7, split="test", augment=True)
    t2, _ = image_batch(data, 16, seed=7, split="test", augment=True)
    assert torch.equal(t1, t2)


def test_augment_is_padded_crop_and_flip_of_the_same_images() -> None:
    data = load_data()
    plain, y = image_batch(data, 48, seed=11)
    aug, y_aug = image_batch(data, 48, seed=11, augment=True)
    assert aug.shape == plain.shape and torch.equal(y, y_aug)
    assert not torch.equal(aug, plain)
    hits = [_find_window(aug[i], plain[i], 4, data.mean, data.std) for i in range(48)]
    assert all(h is not None for h in hits)
    assert {h[2] for h in hits} == {False, True}
    assert len({(h[0], h[1]) for h in hits}) > 10  # offsets spread over the 9 x 9 grid


def test_too_many_images_and_bad_arguments() -> None:
    data = load_data()
    with pytest.raises(DataError, match="1001 images .* only 1000"):
        image_batch(data, 1001, seed=0)
    with pytest.raises(DataError, match="only 250"):
        image_batch(data, 251, seed=0, split="test")
    with pytest.raises(DataError, match="positive integer"):
        image_batch(data, 0, seed=0)
    with pytest.raises(UnknownNameError, match="split"):
        image_batch(data, 4, seed=0, split="valid")


# -- random_crops --------------------------------------------------------------


def test_random_crops_are_windows_of_one_normalised_channel() -> None:
    data = load_data()
    crops = random_crops(data, 3000, seed=5)  # more crops than the 1,000 images
    assert crops.shape == (3000, 1, 3, 3) and crops.dtype == torch.float32
    assert torch.equal(crops, random_crops(data, 3000, seed=5))
    assert not torch.equal(crops, random_crops(data, 3000, seed=6))
    ref = _reference(data.train_images, "cifar10")  # (N, 32, 32, 3)
    for k in (0, 1, 1500, 2999):
        crop = crops[k, 0].double().numpy()
        # Brute force over every image, channel and offset (prefiltered on the corner).
        js, tops, lefts, cs = np.nonzero(np.abs(ref[:, :30, :30, :] - crop[0, 0]) < 1e-5)
        matches = [
            c for j, t, left, c in zip(js, tops, lefts, cs) if np.abs(ref[j, t : t + 3, left : left + 3, c] - crop).max() < 1e-5
        ]
        assert matches, f"crop {k} is no window of a normalised training image"
    assert random_crops(data, 10, size=5, seed=0).shape == (10, 1, 5, 5)


def test_random_crops_use_every_channel_and_bad_size() -> None:
    data = load_data()
    with pytest.raises(DataError, match="crop size 33"):
        random_crops(data, 4, size=33, seed=0)
    with pytest.raises(DataError, match="crop size 0"):
        random_crops(data, 4, size=0, seed=0)
    flat = ImageData(
        name="cifar10",
        num_classes=10,
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
        train_images=np.broadcast_to(np.array([10, 20, 30], np.uint8), (5, 8, 8, 3)),
        train_labels=np.zeros(5, np.int64),  # one value per channel: crops reveal it
        test_images=np.zeros((1, 8, 8, 3), np.uint8),
        test_labels=np.zeros(1, np.int64),
    )
    values = set(np.round(random_crops(flat, 300, seed=1).numpy().ravel() * 255).astype(int).tolist())
    assert values == {10, 20, 30}


# -- folders in the real formats -------------------------------------------------


def test_cifar10_folder_or_parent(cifar10_root: tuple[Path, dict[str, np.ndarray]]) -> None:
    root, truth = cifar10_root
    for where in (root, root / "cifar-10-batches-py"):
        data = load_data("cifar10", where)
        assert data.source == str(root / "cifar-10-batches-py")
        assert np.array_equal(data.train_images, truth["train_x"])
        assert np.array_equal(data.train_labels, truth["train_y"])
        assert np.array_equal(data.test_images, truth["test_x"])
        assert np.array_equal(data.test_labels, truth["test_y"])
    assert load_data("cifar10", str(root)) is load_data("cifar10", root)
    x, y = image_batch(data, 20, seed=0)
    assert x.shape == (20, 3, 32, 32) and sorted(y.tolist()) == sorted(truth["train_y"].tolist())


def test_cifar100_uses_fine_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    x, fine = _images(rng, 6, 32), np.array([0, 99, 5, 42, 42, 7])
    _dump(folder / "train", {"data": _channel_major(x), "fine_labels": fine.tolist(), "coarse_labels": [0] * 6})
    _dump(folder / "test", {"data": _channel_major(x[:2]), "fine_labels": [3, 4], "coarse_labels": [1, 1]})
    data = load_data("cifar100", tmp_path)
    assert data.num_classes == 100 and data.mean == MEAN["cifar100"] and data.std == STD["cifar100"]
    assert np.array_equal(data.train_images, x) and data.train_labels.tolist() == fine.tolist()
    assert data.test_labels.tolist() == [3, 4]


def test_imagenet16_keeps_first_120_classes_zero_based(tmp_path: Path) -> None:
    truth = _write_imagenet16(tmp_path / "ImageNet16", np.random.default_rng(2))
    data = load_data("ImageNet16-120", tmp_path)
    keep = truth["train_y"] <= 120
    assert data.num_classes == 120 and data.image_size == (16, 16)
    assert np.array_equal(data.train_images, truth["train_x"][keep])
    assert data.train_labels.tolist() == (truth["train_y"][keep] - 1).tolist()
    assert data.test_labels.tolist() == [2, 119]
    assert np.array_equal(data.test_images, truth["test_x"][[1, 2]])
    assert data.mean == MEAN["ImageNet16-120"]
    n = len(data.train_labels)
    plain, _ = image_batch(data, n, seed=4)
    aug, _ = image_batch(data, n, seed=4, augment=True)
    hits = [_find_window(aug[i], plain[i], 2, data.mean, data.std) for i in range(n)]
    assert all(h is not None and max(h[0], h[1]) <= 4 for h in hits)  # padding 2 at 16x16


def test_npz_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    path = tmp_path / "mine.npz"
    np.savez(
        path,
        train_images=_images(rng, 5, 32),
        train_labels=np.arange(5),
        test_images=_images(rng, 2, 32),
        test_labels=np.array([9, 0]),
    )
    data = load_data("cifar10", path)
    assert data.source == str(path) and len(data.train_images) == 5
    np.savez(tmp_path / "bad.npz", train_images=_images(rng, 5, 32))
    with pytest.raises(DataError, match="bad.npz lacks the arrays train_labels"):
        load_data("cifar10", tmp_path / "bad.npz")
    np.savez(
        tmp_path / "range.npz",
        train_images=_images(rng, 2, 32),
        train_labels=np.array([0, 10]),
        test_images=_images(rng, 1, 32),
        test_labels=np.array([0]),
    )
    with pytest.raises(DataError, match=r"range.npz: train_labels range over \[0, 10\]"):
        load_data("cifar10", tmp_path / "range.npz")


# -- bad input -------------------------------------------------------------------


def test_missing_and_incomplete_folders_name_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match=f"{missing} does not exist.*cifar-10-batches-py"):
        load_data("cifar10", missing)
    with pytest.raises(DataError, match=f"{tmp_path} lacks data_batch_1 .. test_batch"):
        load_data("cifar10", tmp_path)
    (tmp_path / "ImageNet16").mkdir()
    (tmp_path / "ImageNet16" / "val_data").write_bytes(b"")
    with pytest.raises(DataError, match=f"{tmp_path / 'ImageNet16'} lacks train_data_batch_1"):
        load_data("ImageNet16-120", tmp_path)
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(DataError, match="notes.txt is not a folder"):
        load_data("cifar10", tmp_path / "notes.txt")


def test_bundled_images_stand_in_with_each_datasets_setting() -> None:
    c10 = load_data("cifar10")
    c100 = load_data("cifar100")
    assert (c100.num_classes, c100.mean, c100.image_size) == (100, MEAN["cifar100"], (32, 32))
    assert np.array_equal(c100.train_images, c10.train_images) and "standing in for cifar100" in c100.source
    in16 = load_data("ImageNet16-120")
    assert (in16.num_classes, in16.image_size) == (120, (16, 16))
    # 2x2 box averaging, rounded: the mean of each block of the 32x32 image
    block = c10.train_images[7, 4:6, 10:12, 1].astype(float).mean()
    assert in16.train_images[7, 2, 5, 1] == np.rint(block)
    assert len({c10.fingerprint, c100.fingerprint, in16.fingerprint}) == 3
    with pytest.raises(UnknownNameError, match="allowed: cifar10, cifar100, ImageNet16-120"):
        load_data("mnist")


class _Harmless:
    """Pickles as a call to os.getcwd: code a data file has no business running."""

    def __reduce__(self) -> tuple:
        return (os.getcwd, ())


def _pickled(data: object, labels: object = None) -> bytes:
    entry = {"data": data} if labels is None else {"data": data, "labels": labels}
    return pickle.dumps(entry)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(b"not a pickle", "not a readable dataset pickle", id="garbage"),
        pytest.param(pickle.dumps(_Harmless()), "refusing to load", id="code"),
        pytest.param(pickle.dumps([1, 2]), "holds a list", id="not-dict"),
        pytest.param(_pickled(np.zeros((4, 100), np.uint8), [0] * 4), r"shape \(4, 100\).*3072", id="shape"),
        pytest.param(_pickled(np.zeros((4, 3072), np.uint8)), "no 'labels' entry", id="no-labels"),
        pytest.param(_pickled(np.zeros((4, 3072), np.uint8), [0, 1]), "expected 4 integers", id="count"),
        pytest.param(_pickled(np.zeros((2, 3072), np.uint8), [0, 10]), r"\[0, 10\]; expected 0 .. 9", id="label"),
        pytest.param(_pickled(np.full((1, 3072), 300), [0]), "outside 0..255", id="pixel"),
    ],
)
def test_malformed_pickles_name_the_file(cifar10_root: tuple[Path, dict[str, np.ndarray]], content: bytes, message: str) -> None:
    root, _ = cifar10_root
    bad = root / "cifar-10-batches-py" / "test_batch"
    bad.write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        load_data("cifar10", root)
    assert str(bad) in str(info.value)


def test_imagenet16_label_errors(tmp_path: Path) -> None:
    folder = tmp_path / "ImageNet16"
    _write_imagenet16(folder, np.random.default_rng(5))
    _dump(folder / "val_data", {"data": np.zeros((2, 768), np.uint8), "labels": [0, 4]})
    with pytest.raises(DataError, match="1-based"):
        load_data("ImageNet16-120", folder)
    _dump(folder / "val_data", {"data": np.zeros((2, 768), np.uint8), "labels": [121, 400]})
    with pytest.raises(DataError, match=f"{folder}: the test files hold no image"):
        load_data("ImageNet16-120", folder)


def test_image_data_validates_arrays() -> None:
    good = load_data()
    with pytest.raises(DataError, match="train_images .* expected uint8"):
        ImageData(
            name="x",
            train_images=good.train_images.astype(np.float32),
            train_labels=good.train_labels,
            test_images=good.test_images,
            test_labels=good.test_labels,
            num_classes=10,
            mean=good.mean,
            std=good.std,
        )
    with pytest.raises(DataError, match="std must be 3"):
        ImageData(
            name="x",
            train_images=good.train_images,
            train_labels=good.train_labels,
            test_images=good.test_images,
            test_labels=good.test_labels,
            num_classes=10,
            mean=good.mean,
            std=(0.2, 0.0, 0.2),
        )


def test_check_images() -> None:
    x = torch.zeros(2, 3, 16, 16)
    assert check_images(x) is x
    assert check_images(torch.zeros(5, 1, 3, 3), channels=1, min_size=3) is not None
    with pytest.raises(DataError, match=r"shape \(3, 32, 32\); expected \(N>=1, 3, H>=8, W>=8\)"):
        check_images(torch.zeros(3, 32, 32))
    with pytest.raises(DataError, match=r"batch has shape \(2, 1, 32, 32\)"):
        check_images(torch.zeros(2, 1, 32, 32), name="batch")
    with pytest.raises(DataError, match=r"shape \(1, 3, 32, 32\); expected \(N>=2"):
        check_images(torch.zeros(1, 3, 32, 32), min_batch=2)
    with pytest.raises(DataError, match="W>=8"):
        check_images(torch.zeros(2, 3, 32, 4))
    with pytest.raises(DataError, match="dtype torch.uint8"):
        check_images(torch.zeros(2, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(DataError, match="NaN"):
        check_images(torch.full((2, 3, 8, 8), float("nan")))
    with pytest.raises(DataError, match="got ndarray"):
        check_images(np.zeros((2, 3, 8, 8)))
