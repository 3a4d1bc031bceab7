# gm-lab: one command per job. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
KERNEL := gm-lab
PROFILE ?= default

# Datasets: $GM_DATA_DIR if set; else ./data, or the offline mirror ../shared/data when
# ./data has no MNIST and the mirror exists (the machines here have no internet).
ifeq ($(GM_DATA_DIR),)
  ifeq ($(wildcard data/MNIST/raw/*)$(wildcard ../shared/data/MNIST/raw/*),$(wildcard ../shared/data/MNIST/raw/*))
    GM_DATA_DIR := $(abspath ../shared/data)
  else
    GM_DATA_DIR := $(abspath data)
  endif
endif
export GM_DATA_DIR

.PHONY: help setup test test-fast test-browser docs data report pack unpack student grade lab bench bench-step-cost bench-recipes bench-precision clean-report

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' Makefile | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

setup: $(VENV)/.requirements-installed  ## Create .venv, install pinned requirements, gm_lib, kernel, FID weights
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "gm-lab (.venv)" >/dev/null
	install -D -m 644 lab/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json  # no "Jupyter news?" prompt
	@# nbgrader (make student / make grade) runs from the command line; its Lab menus would only puzzle a student
	$(BIN)/jupyter labextension disable --level=sys_prefix @jupyter/nbgrader >/dev/null 2>&1 || true
	for e in formgrader validate_assignment assignment_list course_list; do \
	  $(BIN)/jupyter server extension disable --sys-prefix nbgrader.server_extensions.$$e >/dev/null 2>&1 || true; done
	@$(MAKE) --no-print-directory pdf-deps
	$(BIN)/python -c "from gm_lib.metrics import ensure_fid_weights; print(ensure_fid_weights())"  # converted once
	$(BIN)/python -c "from gm_lib.metrics.inception_backends import ensure_openvino_model as e; print(e())"  # IR, once
	@echo "setup done: kernel '$(KERNEL)', data root $(GM_DATA_DIR)"

$(VENV)/.requirements-installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements.txt
	touch $@

test:  ## Lint (ruff: library, tests, benches, notebooks) and run the whole test suite (pytest), as CI does
	$(BIN)/ruff check gm_lib gm_build tests bench notebooks
	$(BIN)/python -m pytest

test-fast:  ## The inner loop: lint and the tests not marked slow (no papermill report, no subprocess resume)
	$(BIN)/ruff check gm_lib gm_build tests bench notebooks
	$(BIN)/python -m pytest -m "not slow"

test-browser:  ## JupyterLab and report.html in a real browser (Playwright + Debian chromium) on a warm smoke cache; not part of `make test`
	$(BIN)/python -m pytest tests/browser --browser -p no:cacheprovider

docs:  ## Rewrite what README.md and the notebooks generate from the chapter registries (model tables, model lists)
	$(BIN)/python -m gm_build.docs

data:  ## Fetch, check and install the datasets into $GM_DATA_DIR: DATASETS=svhn,celeba (default: every missing one)
	$(BIN)/python -m gm_build.data $(if $(DATASETS),--datasets $(DATASETS))

report: $(if $(DATA),data) docs  ## Re-run what changed (papermill, kernel gm-lab) and rebuild reports/report.{md,html,pdf}; PROFILE=smoke|default|full, ONLY="run ...", SEEDS=0,1,2, PRECISION=auto|fp32|bf16, EXECUTOR=local|slurm, PLAN=1 (say what would run, and why; run nothing), DATA=1 (make data first)
	$(BIN)/python -m gm_build.report --profile $(PROFILE) $(if $(ONLY),--only $(ONLY)) $(if $(SEEDS),--seeds $(SEEDS)) $(if $(PRECISION),--precision $(PRECISION)) $(if $(EXECUTOR),--executor $(EXECUTOR)) $(if $(PLAN),--plan) $(REPORT_ARGS)

pack:  ## Write this commit's trained runs, FID statistics and classifiers as one verified archive: OUT=gm-lab-models.tar
	$(BIN)/python -m gm_build.share pack $(or $(OUT),gm-lab-models.tar) --profile $(PROFILE)

unpack:  ## Verify an archive of make pack and install it into $GM_CACHE_DIR: FROM=<file | https URL | hf://owner/repo> [SHA256=]
	@test -n "$(FROM)" || { echo "error: say where the archive is: make unpack FROM=<file | https://... | hf://owner/repo>"; exit 2; }
	$(BIN)/python -m gm_build.share unpack "$(FROM)" $(if $(SHA256),--sha256 $(SHA256))

student:  ## Write the student notebooks to student/: each exercise's solution replaced by nbgrader's `raise NotImplementedError()`
	$(BIN)/python -m gm_build.exercises student notebooks student

grade:  ## Run the exercise checks of DIR's notebooks (default student/) and print a table: exercise, passed/failed, hint
	$(BIN)/python -m gm_build.exercises grade $(or $(DIR),student)

clean-report:  ## Delete reports/executed, reports/report.* and figures/* (checkpoints are kept)
	rm -rf reports/executed reports/report.md reports/report.html reports/report.pdf
	find figures -mindepth 1 -maxdepth 1 ! -name .gitkeep -exec rm -rf {} +

# report.pdf is rendered by WeasyPrint, which needs Pango and a font; quick no-op when they are present.
.PHONY: pdf-deps
pdf-deps:
	@if ldconfig -p | grep -q 'libpangoft2-1.0.so.0' && [ -d /usr/share/fonts/truetype/dejavu ]; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "installing Pango and DejaVu fonts for report.pdf (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core >/dev/null; \
	else echo "warning: report.pdf needs Pango: apt-get install libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core"; fi

bench:  ## Benchmarks, not tests: training images/s (fp32 vs bf16, NCHW vs channels_last), FID vs pytorch-fid CLI
	$(BIN)/python bench/bench_train.py
	$(BIN)/python bench/bench_fid.py

bench-step-cost:  ## Relative step cost of every registered model, measured vs registered (the equal-CPU budgets; ~2 min)
	$(BIN)/python bench/bench_step_cost.py

bench-recipes:  ## Notebook 01 and 03's settings vs the papers', on the report's own runs (~2 h on 2 cores)
	$(BIN)/python bench/bench_report_runs.py vae "steps=8000" "steps=8000 width=48" "" --nll-n 1000
	$(BIN)/python bench/bench_report_runs.py gan --family DCGAN "lr=2e-4" "" --fid
	$(BIN)/python bench/bench_report_runs.py gan --family WGAN-GP "lr=1e-4" "lr=1e-3" "" "lr=4e-3" "lr=1e-4 critic_lr=3e-4 n_critic=1 steps=4900" --fid
	$(BIN)/python bench/bench_report_runs.py gan --family "WGAN (clipping)" "" "ema_decay=0.999" "critic_norm=batch"

bench-precision:  ## Does bf16 keep each family's quality? The report's runs in fp32 vs bf16, 2 seeds (~80 min on 2 cores)
	$(BIN)/python bench/bench_precision.py

lab:  ## JupyterLab on the project's kernel, opened on the course's first page (notebooks/00_start.ipynb)
	$(BIN)/jupyter lab --ServerApp.root_dir=notebooks --LabApp.default_url=/lab/tree/00_start.ipynb
