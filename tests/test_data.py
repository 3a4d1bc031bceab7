"""gm_lib.data on the offline mirror and on synthetic files in the real formats."""

import numpy as np
import pytest
import torch
from scipy.io import savemat

from gm_lib.data import DatasetCorrupt, DatasetUnavailable, DataSpec, load_dataset


@pytest.mark.parametrize(
    ("name", "split", "size"),
    [
        ("mnist", "train", 60_000),
        ("mnist", "test", 10_000),
        ("fashion_mnist", "train", 60_000),
        ("fashion_mnist", "test", 10_000),
        ("binarized_mnist", "train", 50_000),
        ("binarized_mnist", "valid", 10_000),
        ("binarized_mnist", "test", 10_000),
    ],
)
def test_mirror_shapes_ranges_and_split_sizes(mnist_root, fashion_root, name, split, size):
    data = load_dataset(name, split)
    assert len(data) == size and data.images.shape == (size, 1, 28, 28)
    assert data.images.dtype == torch.uint8 and data.labels.dtype == torch.int64
    assert set(data.labels.unique().tolist()) == set(range(10))
    x, y = next(data.stream(batch_size=128, seed=0))
    assert x.shape == (128, 1, 28, 28) and x.dtype == torch.float32 and y.shape == (128,)
    assert 0.0 <= x.min() and x.max() <= 1.0
    if name == "binarized_mnist":
        assert set(x.unique().tolist()) == {0.0, 1.0}
    else:
        assert len(x.unique()) > 2  # grey levels survive


def test_binarized_splits_follow_larochelle(mnist_root):
    """train = MNIST train[:50000], valid = train[50000:], test = MNIST test (same labels, same order)."""
    mnist_train, mnist_test = load_dataset("mnist", "train"), load_dataset("mnist", "test")
    assert torch.equal(load_dataset("binarized_mnist", "train").labels, mnist_train.labels[:50_000])
    assert torch.equal(load_dataset("binarized_mnist", "valid").labels, mnist_train.labels[50_000:])
    assert torch.equal(load_dataset("binarized_mnist", "test").labels, mnist_test.labels)
    # A pixel that is black in MNIST is never switched on: bits are Bernoulli(grey / 255).
    bits = load_dataset("binarized_mnist", "test").images
    assert not bits[mnist_test.images == 0].any()


def test_static_binarization_is_fixed_and_dynamic_resamples(mnist_root):
    first = load_dataset("binarized_mnist", "valid").images
    assert torch.equal(first, load_dataset("binarized_mnist", "valid").images)
    dynamic = load_dataset("binarized_mnist", "valid", binarize="dynamic")
    stream = dynamic.stream(batch_size=10_000, seed=0)
    a, _ = next(stream)
    b, _ = next(stream)  # same images (one batch is the whole set), fresh bits
    assert set(a.unique().tolist()) == {0.0, 1.0}
    assert not torch.equal(a[a.sum((1, 2, 3)).argsort()], b[b.sum((1, 2, 3)).argsort()])
    # Mean of the bits matches the grey level on average (Bernoulli(p) with p = grey/255).
    grey = load_dataset("mnist", "train").images[50_000:].float().mean() / 255
    assert abs(a.mean() - grey) < 2e-3


def test_stream_is_deterministic_and_resumable(mnist_root):
    data = load_dataset("mnist", "test", n=1000)
    s1, s2 = data.stream(100, seed=3), data.stream(100, seed=3)
    batches = [next(s1)[1] for _ in range(25)]  # crosses two epoch boundaries
    assert all(torch.equal(a, next(s2)[1]) for a in batches)
    resumed = data.stream(100, seed=3)
    probe = data.stream(100, seed=3)
    for _ in range(13):
        next(probe)
    resumed.load_state_dict(probe.state_dict())
    assert torch.equal(next(resumed)[1], batches[13])
    assert not torch.equal(next(data.stream(100, seed=4))[1], batches[0])


def test_one_epoch_visits_every_image_once(mnist_root):
    data = load_dataset("mnist", "test", n=500)
    stream = data.stream(100, seed=0)
    seen = torch.cat([next(stream)[0].flatten(1) for _ in range(5)]).mul(255).round().long()
    assert torch.equal(seen.sum(0), data.images.flatten(1).long().sum(0))


def test_dataspec_round_trip(mnist_root):
    spec = DataSpec("mnist", "test", n=64)
    data = spec.load()
    assert data.spec == spec and len(data) == 64


def _write_svhn_mat(path, n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)
    y = rng.integers(1, 11, size=(n, 1)).astype(np.uint8)  # SVHN labels 1..10, 10 = digit 0
    savemat(path, {"X": x, "y": y})
    return x, y


def test_svhn_loader_on_synthetic_mat(tmp_path):
    (tmp_path / "SVHN").mkdir()
    x, y = _write_svhn_mat(tmp_path / "SVHN" / "train_32x32.mat", n=50)
    data = load_dataset("svhn", "train", root=tmp_path)
    assert data.images.shape == (50, 3, 32, 32) and data.images.dtype == torch.uint8
    assert torch.equal(data.images[7], torch.from_numpy(x[..., 7]).permute(2, 0, 1))
    expected = torch.from_numpy(y[:, 0].astype(np.int64)) % 10
    assert torch.equal(data.labels, expected) and data.labels.max() <= 9
    assert (data.labels == 0).sum() == (y == 10).sum()


def test_missing_dataset_is_a_clear_error_not_a_substitute(tmp_path):
    with pytest.raises(DatasetUnavailable, match=r"'svhn' not found under .*GM_DATA_DIR"):
        load_dataset("svhn", "train", root=tmp_path)
    with pytest.raises(DatasetUnavailable, match="'fashion_mnist' not found"):
        load_dataset("fashion_mnist", "test", root=tmp_path)


def test_truncated_idx_file_names_the_file(tmp_path, mnist_root):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]:
        data = (mnist_root / "MNIST" / "raw" / name).read_bytes()
        (raw / name).write_bytes(data[: len(data) // 2] if "images" in name else data)
    with pytest.raises(DatasetCorrupt, match=r"t10k-images-idx3-ubyte is truncated"):
        load_dataset("mnist", "test", root=tmp_path)


def test_truncated_svhn_file_names_the_file(tmp_path):
    (tmp_path / "SVHN").mkdir()
    path = tmp_path / "SVHN" / "test_32x32.mat"
    _write_svhn_mat(path, n=20)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DatasetCorrupt, match="test_32x32.mat cannot be read"):
        load_dataset("svhn", "test", root=tmp_path)


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        load_dataset("cifar")
    with pytest.raises(ValueError, match="has no split 'valid'"):
        load_dataset("mnist", "valid")
    with pytest.raises(ValueError, match="does not apply"):
        load_dataset("mnist", "train", binarize="static")


# ---------------------------------------------------------------- loaders never download


@pytest.fixture
def no_socket(monkeypatch):
    """Fail the test if anything opens a connection."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError(f"unexpected network connection {args}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.mark.parametrize("name, fetch", [("mnist", "mnist"), ("binarized_mnist", "mnist"),
                                         ("fashion_mnist", "fashion_mnist"), ("svhn", "svhn"), ("celeba", "celeba")])
def test_missing_data_never_downloads_and_names_make_data(tmp_path, no_socket, name, fetch):
    with pytest.raises(DatasetUnavailable) as error:
        load_dataset(name, "test", root=tmp_path)
    message = str(error.value)
    assert "\n" not in message and f": run make data DATASETS={fetch}," in message
    assert list(tmp_path.iterdir()) == []  # nothing written either


# ---------------------------------------------------------------- a validation split held out of train


def _write_idx(folder, stem: str, n: int) -> None:
    """Synthetic MNIST-layout IDX files whose image i stores i in its first two pixels (i = 256 a + b)."""
    folder.mkdir(parents=True, exist_ok=True)
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    images[:, 0, 0], images[:, 0, 1] = np.arange(n) // 256, np.arange(n) % 256
    header = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in (n, 28, 28))
    (folder / f"{stem}-images-idx3-ubyte").write_bytes(header + images.tobytes())
    label_header = bytes([0, 0, 8, 1]) + n.to_bytes(4, "big")
    (folder / f"{stem}-labels-idx1-ubyte").write_bytes(label_header + (np.arange(n) % 10).astype(np.uint8).tobytes())


def _indices(data) -> set[int]:
    return set((256 * data.images[:, 0, 0, 0].long() + data.images[:, 0, 0, 1].long()).tolist())


def test_held_out_validation_is_disjoint_from_train_and_covers_the_rest(tmp_path):
    _write_idx(tmp_path / "MNIST" / "raw", "train", n=300)
    load = lambda split, **kw: DataSpec("mnist", split, holdout=50, **kw).load()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GM_DATA_DIR", str(tmp_path))
        train, valid = load("train"), load("valid")
        small_train, small_valid = load("train", n=20), load("valid", n=5)
    assert _indices(train) == set(range(250)) and _indices(valid) == set(range(250, 300))
    assert _indices(small_train) == set(range(20)) and _indices(small_valid) == set(range(250, 255))
    assert not _indices(train) & _indices(valid)
    assert valid.spec == DataSpec("mnist", "valid", holdout=50) and small_valid.spec.holdout == 50


def test_holdout_errors_are_one_line_and_say_what_to_do(tmp_path):
    _write_idx(tmp_path / "MNIST" / "raw", "train", n=30)
    with pytest.raises(ValueError, match="has no split 'valid'.*holdout=K"):
        load_dataset("mnist", "valid", root=tmp_path)
    with pytest.raises(ValueError, match="does not apply to split='test'"):
        load_dataset("mnist", "test", root=tmp_path, holdout=10)
    with pytest.raises(ValueError, match="binarized_mnist has its fixed valid split"):
        load_dataset("binarized_mnist", "valid", root=tmp_path, holdout=10)
    with pytest.raises(ValueError, match="leaves no training images"):
        load_dataset("mnist", "train", root=tmp_path, holdout=30)
