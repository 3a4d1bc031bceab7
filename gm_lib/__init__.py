"""gm_lib: the shared library behind gm-lab's notebooks and report.

Modules (each holds one idea):
    paths     where data, checkpoints and figures live (GM_DATA_DIR, GM_CACHE_DIR)
    data      offline datasets as in-memory uint8 tensors, batches in [0, 1]
    nets      DCGAN-style encoders, decoders, generators, critics; small MLPs
    models    VAE, WAE-MMD, WAE-GAN, latent-critic VAE, DCGAN, WGAN, WGAN-GP
    toy       the parallel-lines toy: Hellinger vs Earth-Mover estimation
    train     the training engine: seeding, checkpoints, resume, load-or-train
    metrics   FID, KID, sharpness, importance-sampled NLL, domain classifiers
    profiles  smoke / default / full settings read by the notebooks
"""

__version__ = "0.1.0"
