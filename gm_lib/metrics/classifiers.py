"""Domain classifiers: class coverage (mode collapse), a cheap Fréchet distance, k-NN accuracy of codes.

One small CNN per labelled dataset, trained once through the engine (:func:`gm_lib.train.train`: its
seeding, resume and NaN guard) and cached as ``cache_dir("classifiers")/<dataset>-<hash>.pt`` together
with its measured test accuracy; the hash covers the config and the code the classifier depends on.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gm_lib.cache import key_digest, load_or_compute, load_torch
from gm_lib.models.base import GenerativeModel
from gm_lib.paths import cache_dir
from gm_lib.progress import phase
from gm_lib.saved_configs import ConfigRefused, decode_fields
from gm_lib.train import set_seed, train
from gm_lib.train_config import TrainConfig

__all__ = [
    "ClassifierConfig",
    "Classifier",
    "Coverage",
    "train_classifier",
    "get_classifier",
    "evaluate_accuracy",
    "class_coverage",
    "classifier_features",
    "classifier_frechet_distance",
    "knn_accuracy",
]

COVERAGE_THRESHOLD = 0.01  # a class is covered when it holds at least 1 % of the samples
# The code a cached classifier depends on (this module's import closure: the engine, the data readers): editing
# it retrains the classifier, editing anything else does not.
CLASSIFIER_CODE = (__name__,)


@dataclass(frozen=True)
class ClassifierConfig:
    """Architecture and training of a domain classifier (its hash names the cache file)."""

    dataset: str = "mnist"
    channels: tuple[int, int] = (32, 64)
    hidden: int = 128
    epochs: int = 3
    batch_size: int = 128
    lr: float = 3e-3
    seed: int = 0

    def hash(self) -> str:
        """10 hex digits of this config and the code the trained classifier depends on (:data:`CLASSIFIER_CODE`)."""
        return key_digest(asdict(self), CLASSIFIER_CODE, length=10)


class Classifier(GenerativeModel):
    """Two conv blocks + MLP. Input float ``(B, C, H, W)`` in ``[0, 1]``; output logits ``(B, 10)``."""

    needs_labels = True  # the engine's next_batch() returns (x, y)

    def __init__(self, config: ClassifierConfig, image_shape: tuple[int, int, int]):
        super().__init__()
        self.config = config
        c, h, w = image_shape
        c1, c2 = config.channels
        block = lambda cin, cout: [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]
        self.features = nn.Sequential(
            *block(c, c1), *block(c1, c2), nn.Flatten(), nn.Linear(c2 * (h // 4) * (w // 4), config.hidden), nn.ReLU()
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(config.hidden, 10))
        self.test_accuracy = float("nan")

    def embed(self, x: Tensor) -> Tensor:
        """Penultimate features ``(B, hidden)``."""
        return self.features(2 * x - 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.embed(x))

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"model": torch.optim.Adam(self.parameters(), lr=self.config.lr)}

    def training_step(self, next_batch, optimizers) -> dict[str, Tensor]:
        """One cross-entropy step on ``next_batch()`` = ``(x, y)`` (see ``needs_labels``)."""
        x, y = next_batch()
        loss = F.cross_entropy(self(x), y)
        optimizers["model"].zero_grad(set_to_none=True)
        loss.backward()
        optimizers["model"].step()
        return {"loss": loss.detach()}


# ---------------------------------------------------------------- train / load (plumbing)


@torch.no_grad()
def evaluate_accuracy(classifier: Classifier, images: Tensor, labels: Tensor, batch_size: int = 1000) -> float:
    """Fraction of ``images`` (uint8 or float [0, 1], any device) classified as ``labels``."""
    predictions = _predict(classifier, images, batch_size)
    return float((predictions == torch.as_tensor(labels).cpu()).float().mean())


def train_classifier(config: ClassifierConfig) -> Classifier:
    """Train from scratch through the engine, then measure test accuracy. ~1-2 min per MNIST-size dataset on CPU.

    Seeded by ``config.seed`` (weights and batch order), ``config.epochs`` passes of Adam whose learning
    rate decays from ``config.lr`` on a cosine, fp32 on the CPU (the cached weights do not depend on the
    machine). Checkpoints go to ``cache_dir("classifiers")/<dataset>-<hash>-run/``, so a killed training resumes.
    """
    from gm_lib.data import load_dataset

    train_data, test = load_dataset(config.dataset, "train"), load_dataset(config.dataset, "test")
    steps = config.epochs * math.ceil(len(train_data) / config.batch_size)
    schedule = TrainConfig(steps=steps, batch_size=config.batch_size, seed=config.seed, device="cpu",
                           precision="fp32", lr_schedule="cosine")
    set_seed(config.seed)
    model = Classifier(config, train_data.shape)
    train(model, train_data, schedule, _run_dir(config), progress=False)
    model.test_accuracy = evaluate_accuracy(model, test.images, test.labels)
    return model.eval()


def _run_dir(config: ClassifierConfig) -> Path:
    return cache_dir("classifiers") / f"{config.dataset}-{config.hash()}-run"


def get_classifier(
    dataset: str, config: ClassifierConfig | None = None, force: bool = False, device: str | torch.device = "cpu"
) -> Classifier:
    """Load-or-train the domain classifier of ``dataset`` (``mnist``, ``fashion_mnist``, ``svhn``).

    Trained on the CPU (the cached weights do not depend on the machine), returned in eval mode on
    ``device``; the metrics below move each batch to the classifier's device, so samples may live anywhere.

    Raises:
        DatasetUnavailable: the dataset is not on disk (training needs it once).
        ValueError: the cached file does not hold this config's classifier (one line: delete it).
    """
    config = config or ClassifierConfig(dataset=dataset)
    path = cache_dir("classifiers") / f"{dataset}-{config.hash()}.pt"
    if force:
        shutil.rmtree(_run_dir(config), ignore_errors=True)  # retrain from scratch, not resume

    def compute() -> dict:
        from gm_lib.data import load_dataset

        with phase(f"training the {dataset} domain classifier", kind="evaluation"):  # it serves metrics only
            model = train_classifier(config)
        return {"config": asdict(config), "image_shape": load_dataset(dataset, "test", n=1).shape,
                "state_dict": model.state_dict(), "test_accuracy": model.test_accuracy}

    saved = load_or_compute(path, compute, load=load_torch, dump=torch.save, force=force, code=CLASSIFIER_CODE)
    _check_saved(saved, config, path)
    model = Classifier(config, tuple(saved["image_shape"]))
    model.load_state_dict(saved["state_dict"])
    model.test_accuracy = saved["test_accuracy"]
    return model.to(device).eval()


def _check_saved(saved: object, config: ClassifierConfig, path: Path) -> None:
    """Refuse a cached classifier file that does not hold the classifier of ``config`` (its name is the config's
    hash, its content may have come from another machine): config fields of their kinds and equal, a 3-int shape."""
    try:
        same = decode_fields(ClassifierConfig, saved["config"], plain=True) == config
        shape = saved["image_shape"]
        same = same and len(shape) == 3 and all(type(size) is int and size > 0 for size in shape)
    except (ConfigRefused, KeyError, TypeError):
        same = False
    if not same:
        raise ValueError(f"{path} does not hold the classifier of {config}; delete it (the classifier retrains)")


# ---------------------------------------------------------------- metrics


@dataclass(frozen=True)
class Coverage:
    """Predicted-class histogram of generated samples.

    Attributes:
        histogram: ``(10,)`` fractions summing to 1.
        n_covered: classes with at least ``COVERAGE_THRESHOLD`` (1 %) of the samples.
        kl_to_uniform: KL(histogram ‖ uniform) in nats (0 = perfectly balanced, log 10 = one class).
    """

    histogram: np.ndarray
    n_covered: int
    kl_to_uniform: float


def _batches(classifier: Classifier, images: Tensor, batch_size: int):
    """``images`` in slices as float [0, 1] on the classifier's device (samples may come from another one)."""
    classifier.eval()
    for i in range(0, len(images), batch_size):
        yield _as_float(images[i : i + batch_size]).to(classifier.device)


def _predict(classifier: Classifier, images: Tensor, batch_size: int) -> Tensor:
    """Predicted classes ``(N,)`` int64 on the CPU."""
    return torch.cat([classifier(x).argmax(1).cpu() for x in _batches(classifier, images, batch_size)])


def _as_float(images: Tensor) -> Tensor:
    x = torch.as_tensor(images)
    if x.dtype == torch.uint8:
        return x.float() / 255
    if torch.isnan(x).any() or x.min() < 0 or x.max() > 1:
        raise ValueError(f"images must be float in [0, 1] or uint8; found [{x.min():.4g}, {x.max():.4g}]: "
                         "convert [-1, 1] images with (x + 1) / 2")
    return x.float()


@torch.no_grad()
def class_coverage(classifier: Classifier, images: Tensor, batch_size: int = 1000) -> Coverage:
    """Mode-collapse numbers: how the classifier spreads ``images`` (float [0, 1] or uint8, any device) over 10
    classes."""
    predictions = _predict(classifier, images, batch_size)
    histogram = np.bincount(predictions.numpy(), minlength=10).astype(np.float64) / len(predictions)
    nonzero = histogram > 0
    kl = float(np.sum(histogram[nonzero] * np.log(histogram[nonzero] * 10)))
    return Coverage(histogram, int((histogram >= COVERAGE_THRESHOLD).sum()), kl)


@torch.no_grad()
def classifier_features(classifier: Classifier, images: Tensor, batch_size: int = 1000) -> np.ndarray:
    """Penultimate features ``(N, hidden)`` float64 (NumPy) of ``images`` (float [0, 1] or uint8, any device); cast
    to float64 on the CPU (MPS has no float64)."""
    return torch.cat([classifier.embed(x).cpu().double() for x in _batches(classifier, images, batch_size)]).numpy()


def classifier_frechet_distance(classifier: Classifier, real: Tensor, fake: Tensor) -> float:
    """Fréchet distance in the domain classifier's feature space (cheap; for tracking training, not for tables)."""
    from gm_lib.metrics.fid import feature_statistics, frechet_distance

    return frechet_distance(*feature_statistics(classifier_features(classifier, real)),
                            *feature_statistics(classifier_features(classifier, fake)))


def knn_accuracy(z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray, y_test: np.ndarray, k: int = 5) -> float:
    """Test accuracy of a k-nearest-neighbour classifier (Euclidean) on latent codes ``(N, d)``."""
    from sklearn.neighbors import KNeighborsClassifier

    knn = KNeighborsClassifier(n_neighbors=k).fit(np.asarray(z_train), np.asarray(y_train))
    return float(knn.score(np.asarray(z_test), np.asarray(y_test)))
