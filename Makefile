# posenet-onnx: `make run` sets up .venv and estimates poses in an image; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MULTIPLIER ?= 0.50
IMAGE ?= ../shared/posenet/images/couple.jpg
OUT ?= out
# An offline checkpoint mirror, used when present (this repository's ../shared data); else the download.
CHECKPOINT_DIR ?= $(wildcard ../shared/posenet/checkpoints)

.PHONY: setup jsref ortjs run test clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[export,video,test,openvino,eval,parquet,ray]"
	touch $@

run: setup
	$(BIN)/posenet-onnx estimate $(IMAGE) --multi --multiplier $(MULTIPLIER) --draw $(OUT) --json $(OUT)/poses.json \
		$(if $(CHECKPOINT_DIR),--checkpoint-dir $(CHECKPOINT_DIR))

# The original JavaScript package (Node), the reference of the parity tests.
jsref: scripts/jsref/node_modules/.installed

scripts/jsref/node_modules/.installed: scripts/jsref/package.json
	cd scripts/jsref && npm install --no-audit --no-fund
	touch $@

# ONNX Runtime for JavaScript (onnxruntime-node), the JavaScript deployment check. Its install script would
# download extra (GPU) binaries from outside the registry; its CPU binaries ship in the package.
ortjs: scripts/ortjs/node_modules/.installed

scripts/ortjs/node_modules/.installed: scripts/ortjs/package.json
	cd scripts/ortjs && npm install --no-audit --no-fund --ignore-scripts
	touch $@

test: setup jsref ortjs
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) $(OUT) build dist src/*.egg-info
