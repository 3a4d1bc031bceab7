"""gm_lib: the course library behind gm-lab's notebooks (the tool that builds the report is gm_build; it imports
gm_lib, never the reverse).

Modules (each holds one idea):
    paths     where data, checkpoints and figures live (GM_DATA_DIR, GM_CACHE_DIR)
    data      offline datasets as in-memory uint8 tensors, batches in [0, 1]
    dataset_files  reading MNIST / Fashion-MNIST / SVHN raw files, or a clear error (never downloads)
    nets      DCGAN-style encoders, decoders, generators, critics; small MLPs
    models    VAE, WAE (MMD, GAN), latent-critic VAE, GAN (one module per loss family in models/gan_losses)
    toy       the parallel-lines toy: Hellinger vs Earth-Mover estimation
    precision  the device (CUDA, then MPS, then CPU), and fp32 / bf16 autocast ("auto" resolved per family and device)
    train_config  TrainConfig: how to train (steps, batches, checkpoints, schedule, precision)
    train     the training loop: seeding, evaluation, checkpoints, exact resume, NaN guard
    runs      run identity (config + the code that makes its weights) and load-or-train
    checkpoint  checkpoint files, RNG capture, config round-trips, History, snapshots
    cache     the one atomic writer and the one keyed cache (settings + the code they depend on)
    code_graph  which code a key covers (the import closure, plumbing left out), as this process imported it
    metrics   FID, KID, sharpness, importance-sampled NLL, domain classifiers (+ CLI)
    latent    interpolation, per-dimension perturbation, encoding a split, t-SNE
    plots     the figures the notebooks share
    experiments  the report's runs (model + data + training configs), defined once
    explore   each chapter's interactive explorer on a shared core (widgets in JupyterLab, static headless)
    profiles  smoke / default / full settings read by the notebooks
    results   what a notebook records (figures, tables, metrics) with provenance
    machine   the CPU model, its vector instruction sets and the device a run computed on
    versions  the package versions that decide the numbers: in results.json, beside each trained run, in a pack
"""

import gm_lib.code_graph  # noqa: F401  first: records the code of every gm_lib module imported after it

__version__ = "0.1.0"
