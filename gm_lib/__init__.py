"""gm_lib: the shared library behind gm-lab's notebooks and report.

Modules (each holds one idea):
    paths     where data, checkpoints and figures live (GM_DATA_DIR, GM_CACHE_DIR)
    data      offline datasets as in-memory uint8 tensors, batches in [0, 1]
    dataset_files  reading MNIST / Fashion-MNIST / SVHN raw files, or a clear error (never downloads)
    nets      DCGAN-style encoders, decoders, generators, critics; small MLPs
    models    VAE, WAE-MMD, WAE-GAN, latent-critic VAE, DCGAN, WGAN, WGAN-GP
    toy       the parallel-lines toy: Hellinger vs Earth-Mover estimation
    precision  the device (CUDA, then MPS, then CPU), and fp32 / bf16 autocast ("auto" resolved per family and device)
    train_config  TrainConfig: how to train (steps, batches, checkpoints, schedule, precision)
    train     the training loop: seeding, evaluation, checkpoints, exact resume, NaN guard
    runs      run identity (config + code hash) and load-or-train
    checkpoint  checkpoint files, RNG capture, config round-trips, History, snapshots
    cache     the one atomic writer and the one keyed cache (settings + the code they depend on)
    metrics   FID, KID, sharpness, importance-sampled NLL, domain classifiers (+ CLI)
    latent    interpolation, per-dimension perturbation, encoding a split, t-SNE
    plots     the figures the notebooks share
    experiments  the report's runs (model + data + training configs), defined once
    profiles  smoke / default / full settings read by the notebooks
    results   what a notebook records (figures, tables, metrics) with provenance
    machine   the CPU model, its vector instruction sets and the device a run computed on
    report    `make report`: papermill runner and the md/HTML/PDF builder
"""

__version__ = "0.1.0"
