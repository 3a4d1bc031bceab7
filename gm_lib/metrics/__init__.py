"""Evaluation metrics: FID/KID (pytorch-fid's network and maths, offline weights), sharpness,
importance-sampled log-likelihood, and domain-classifier metrics (class coverage, k-NN accuracy).

Every function takes images as float ``(N, C, H, W)`` in ``[0, 1]`` (FID also uint8) and raises on
anything else. Importing prints nothing and loads no network.
"""

from gm_lib.metrics.classifiers import (
    Classifier,
    ClassifierConfig,
    Coverage,
    class_coverage,
    classifier_features,
    classifier_frechet_distance,
    get_classifier,
    knn_accuracy,
)
from gm_lib.metrics.fid import (
    FIDResult,
    feature_backend,
    feature_statistics,
    fid,
    fid_floor,
    frechet_distance,
    inception_features,
    kernel_inception_distance,
    reference_statistics,
)
from gm_lib.metrics.inception import FIDWeightsMissing, ensure_fid_weights, load_fid_inception
from gm_lib.metrics.likelihood import LikelihoodResult, importance_sampled_log_likelihood
from gm_lib.metrics.sharpness import laplacian_variance, sharpness

__all__ = [
    "Classifier",
    "ClassifierConfig",
    "Coverage",
    "FIDResult",
    "FIDWeightsMissing",
    "LikelihoodResult",
    "class_coverage",
    "classifier_features",
    "classifier_frechet_distance",
    "ensure_fid_weights",
    "feature_backend",
    "feature_statistics",
    "fid",
    "fid_floor",
    "frechet_distance",
    "get_classifier",
    "importance_sampled_log_likelihood",
    "inception_features",
    "kernel_inception_distance",
    "knn_accuracy",
    "laplacian_variance",
    "load_fid_inception",
    "reference_statistics",
    "sharpness",
]
