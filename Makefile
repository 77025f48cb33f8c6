# mmar-runner developer and user entry points. Everything installs into .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MMAR := $(BIN)/mmar
STAMP := $(VENV)/.installed

BUNDLE ?= bundles/spleen_ct_seg
DATA := $(BUNDLE)/data/synthetic/dataset.json
# `make train` is `mmar train BUNDLE` on the data `make data` makes. The demo bundle's sizes for that data sit in its
# config/environment.json (about a minute on 2 CPU cores); its config_train.json is the full-scale recipe, which
# config/environment_decathlon.json leaves alone: bundles/spleen_ct_seg/docs/Readme.md. SET='epochs=5 ...' adds --set words.
SET ?=
PYTEST_ARGS ?=
# The suite runs on two pytest-xdist workers: much of it waits on fresh processes (imports, torchrun, docker), so
# two overlap on 2 cores. tests/conftest.py keeps the docker tests, and each module with a shared fixture, on one worker.
TEST_WORKERS ?= 2

TAG ?= $(notdir $(patsubst %/,%,$(BUNDLE))):latest
BASE_IMAGE ?=
WHEELHOUSE ?=
FLAVOUR ?=
OUT ?= $(CURDIR)/out
DATA_DIR ?= $(abspath $(BUNDLE))/data/synthetic
RUN_ARGS ?=

NODES ?= 1
GPUS_PER_NODE ?= 1
DATA_PVC ?=
OUT_PVC ?=
K8S_OUT ?= k8s/$(notdir $(patsubst %/,%,$(BUNDLE))).yaml

.PHONY: install train check test lint data bench schema clean image run k8s gpu-prepare gpu-check

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "Python >= 3.10 required"'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "creating a virtual environment failed; on Debian: apt-get install -y python3-venv" >&2; exit 1; }
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

data: install $(DATA)

# A bundle's own commands/make_data.sh knows its data size; the default size otherwise.
$(DATA):
	if [ -x $(BUNDLE)/commands/make_data.sh ]; then PATH="$(abspath $(BIN)):$$PATH" $(BUNDLE)/commands/make_data.sh; \
	else $(MMAR) synthetic-data $(BUNDLE)/data/synthetic; fi

train: install $(DATA)  ## the main job: the demo bundle on synthetic data (CPU when no GPU)
	$(MMAR) train $(BUNDLE) $(if $(SET),--set $(SET))

check: install $(DATA)
	$(MMAR) check $(BUNDLE) $(if $(SET),--set $(SET))

test: install  ## the whole test suite
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check runner medl tests bench bundles

# Every benchmark, then the tables and plots of docs/BENCHMARKS.md (about 25 minutes on 2 cores).
# The image benchmark exits 3 when no Docker engine can be started; its figures then stay as they were.
BENCH_REPS ?= 5
bench: install
	$(BIN)/python bench/bench_overhead.py --reps $(BENCH_REPS)
	$(BIN)/python bench/bench_scaling.py --reps $(BENCH_REPS)
	$(BIN)/python bench/bench_check.py --reps $(BENCH_REPS)
	$(BIN)/python bench/bench_determinism.py --reps $(BENCH_REPS)
	$(BIN)/python bench/bench_bundle_train.py --reps $(BENCH_REPS)
	$(BIN)/python bench/bench_image.py --reps $(BENCH_REPS); rc=$$?; \
	  if [ $$rc = 3 ]; then echo "bench_image: no Docker engine here; image figures not re-measured"; elif [ $$rc != 0 ]; then exit $$rc; fi
	$(BIN)/python bench/report.py

# The GPU check (bench/gpu/README.md). gpu-prepare runs HERE, with network: it fetches the cp312 wheels the
# borrowed GPU machine lacks into bench/gpu/wheels (git-ignored; carry it). gpu-check runs THERE, with no network
# and no `make install`: the machine's python3 and torch plus the carried wheels; it writes $(OUT)/gpu.json.
gpu-prepare:
	$(PYTHON) bench/gpu/prepare.py

gpu-check:
	bash bench/gpu/run.sh $(OUT)

image: install  ## build the image of BUNDLE: make image BUNDLE=bundles/spleen_ct_seg TAG=spleen:1.0 [FLAVOUR=cuda|cpu] [BASE_IMAGE=...] [WHEELHOUSE=...]
	$(MMAR) build $(BUNDLE) -t $(TAG) $(if $(FLAVOUR),--flavour $(FLAVOUR)) $(if $(BASE_IMAGE),--base-image $(BASE_IMAGE)) $(if $(WHEELHOUSE),--wheelhouse $(WHEELHOUSE))

run:  ## train in the image: make run TAG=spleen:1.0 [DATA_DIR=/data/spleen] [OUT=./out] [RUN_ARGS='--set epochs=5']
	mkdir -p $(OUT)
	docker run --rm --user $$(id -u):$$(id -g) $(if $(GPUS),--gpus $(GPUS)) -v $(DATA_DIR):/data:ro -v $(OUT):/out $(TAG) $(RUN_ARGS)

k8s: install  ## Kubernetes manifests: make k8s TAG=registry/spleen:1.0 NODES=4 GPUS_PER_NODE=8 DATA_PVC=data OUT_PVC=out
	mkdir -p $(dir $(K8S_OUT))
	$(MMAR) k8s $(BUNDLE) --image $(TAG) --nodes $(NODES) --gpus-per-node $(GPUS_PER_NODE) \
	    $(if $(DATA_PVC),--data-pvc $(DATA_PVC)) $(if $(OUT_PVC),--out-pvc $(OUT_PVC)) > $(K8S_OUT)
	@echo "wrote $(K8S_OUT); apply with: kubectl apply -f $(K8S_OUT)"

schema: install
	@$(MMAR) schema

clean:
	rm -rf $(BUNDLE)/models/*.pt $(BUNDLE)/models/*.json $(BUNDLE)/models/events.* .pytest_cache
