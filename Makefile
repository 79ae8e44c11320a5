# `make demo` and `make test` set everything up on a fresh machine: .venv, the pinned torch pair, gnrcnn.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.gnrcnn-installed
TORCH := torch==2.14.1 torchvision==0.29.1

CHROMIUM := /usr/bin/chromium

# Label Studio for tests/serve/test_label_studio.py, in a venv of its own (it pins numpy and OpenCV below
# gnrcnn's): installed and migrated once (about 3.5 min), then reused; rm -rf it after changing the pins.
GNRCNN_LS_VENV ?= .venv-labelstudio
export GNRCNN_LS_VENV
LS_READY := $(GNRCNN_LS_VENV)/template/READY

.PHONY: setup demo test lint clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[test,plot,tensorboard,onnx,serve,browser,fasteval,hub,openvino,mlflow]"
	$(BIN)/python -c "import torch, torchvision, gnrcnn; print('gnrcnn', gnrcnn.__version__, 'torch', torch.__version__)"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/gnrcnn demo --out results/demo

# The serve page's browser test drives Debian's chromium (Playwright never downloads a browser).
$(CHROMIUM):
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium

$(LS_READY):
	PYTHON=$(PYTHON) tests/scripts/label_studio_prepare.sh $(GNRCNN_LS_VENV)

test: $(STAMP) $(CHROMIUM) $(LS_READY)
	$(BIN)/ruff check src tests benchmarks
	# One pytest process with two workers of one thread each (pytest-xdist; trained fixtures built once and
	# shared, tests/conftest.py): 2 cores busy instead of one (docs/testing.md).
	$(BIN)/python -m pytest -q -x -n 2 --dist worksteal --durations=15

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) .venv-labelstudio results build *.egg-info
