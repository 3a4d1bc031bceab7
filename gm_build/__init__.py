"""gm_build: the tool that builds gm-lab's course from gm_lib and the notebooks (as d2lbook builds d2l).

It imports gm_lib; gm_lib imports nothing from it, so no change here retrains a model or re-executes a chapter.

Modules:
    report   `make report`: papermill runner, notebook stamps and PLAN=1, seeds, the md/HTML/PDF build, Slurm
    share    `make pack` / `make unpack`: trained models as one verified archive (file, https, hf://)
    data     `make data`: fetch, check and install the datasets (torchvision's sources, Hugging Face Hub mirrors)
    docs     `make docs`: the README's and notebooks' text generated from the registries
    course   the course's first page (00_start): each chapter and the state of its models
"""
