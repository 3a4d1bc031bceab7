"""What the papers say about the comparisons the chapters measure: the :class:`gm_lib.claims.Literature` each
chapter's claims cite, with the papers' numbers and how they measured (copied from the papers; the report's
references table, ``references.md``, lists the same numbers).

The labels in ``expects`` and ``values`` are the labels the chapters record (the registries' model labels), so a
claim can say whether our order is the paper's.
"""

from __future__ import annotations

from gm_lib.claims import Literature

__all__ = ["IWAE_BOUND", "STATIC_VAE_NLL", "HELLINGER_SATURATES", "WGAN_GP_CLIPPING_SLOWEST", "WAE_TABLE1_FID",
           "WAE_TABLE1_SHARPNESS", "WAE_REAL_SHARPER", "WAE_CODES_APART"]

# 01: Burda, Grosse & Salakhutdinov, Importance Weighted Autoencoders, ICLR 2016.
IWAE_BOUND = Literature(
    "Burda et al. 2016, Theorem 1", ("importance-sampled bound", "−ELBO"),
    protocol="log p(x) ≥ L_K ≥ L_1 in expectation: the K-sample bound is at least as tight as the ELBO")
STATIC_VAE_NLL = Literature(
    "Burda et al. 2016 (appendix) and pythae's reproduction", "inside",
    {"IWAE paper, VAE (static)": 88.71, "pythae, VAE (static)": 89.78},
    protocol="MLP nets, all 10,000 test images, K = 5,000, thousands of epochs; ours: conv nets, the profile's "
             "steps, the first nll_n test images")

# 02: Arjovsky, Chintala & Bottou, Wasserstein GAN, 2017, Example 1 (exact values of the parallel-lines toy).
HELLINGER_SATURATES = Literature(
    "Arjovsky et al. 2017, Example 1", "inside", {"true H² at every θ ≠ 0": 2.0},
    protocol="exact value, no estimation")

# 03: Gulrajani et al., Improved Training of Wasserstein GANs, NeurIPS 2017.
WGAN_GP_CLIPPING_SLOWEST = Literature(
    "Gulrajani et al. 2017, Fig. 3", "the other GANs",
    protocol="CIFAR-10, Inception score over generator iterations and wall-clock time: weight clipping converges "
             "slowest")

# 04 and 05: Tolstikhin, Bousquet, Gelly & Schölkopf, Wasserstein Auto-Encoders, ICLR 2018.
_WAE_PROTOCOL = "CelebA 64×64, nets 4× wider than ours, trained far longer; FID compares only at equal N"
WAE_TABLE1_FID = Literature(
    "Tolstikhin et al. 2018, Table 1", ("WAE-GAN", "WAE-MMD (IMQ)", "VAE"),
    {"WAE-GAN": 42, "WAE-MMD (IMQ)": 55, "VAE": 63}, _WAE_PROTOCOL)
WAE_TABLE1_SHARPNESS = Literature(
    "Tolstikhin et al. 2018, Table 1", "the WAEs", {"VAE": 3e-3, "WAE-MMD (IMQ)": 6e-3, "WAE-GAN": 6e-3},
    _WAE_PROTOCOL)
WAE_REAL_SHARPER = Literature(
    "Tolstikhin et al. 2018, Table 1", "real images", {"VAE": 3e-3, "real images": 2e-2}, _WAE_PROTOCOL)
WAE_CODES_APART = Literature(
    "Tolstikhin et al. 2018, Fig. 1", "the WAEs",
    protocol="an argument, not a measurement: the VAE's KL pulls every q(z|x) towards the prior, so the codes of "
             "different images overlap; the WAE's penalty on the aggregate posterior lets them stay apart")
