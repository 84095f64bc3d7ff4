# posenet-onnx: `make run` sets up .venv and estimates poses in an image; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MULTIPLIER ?= 0.50
IMAGE ?= ../shared/posenet/images/couple.jpg
OUT ?= out
# An offline checkpoint mirror, used when present (this repository's ../shared data); else the download.
CHECKPOINT_DIR ?= $(wildcard ../shared/posenet/checkpoints)

.PHONY: setup jsref ortjs webjs chromium run web test clean

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

# The browser side: onnxruntime-web (copied into built sites) and puppeteer-core (drives Chromium in the browser
# tests and the benchmark), exactly as package-lock.json pins them.
webjs: scripts/web/node_modules/.installed

scripts/web/node_modules/.installed: scripts/web/package.json scripts/web/package-lock.json
	cd scripts/web && npm ci --no-audit --no-fund
	touch $@

# Debian's Chromium for the browser tests: installed when missing (as root, as CI runs); else a note.
CHROMIUM ?= /usr/bin/chromium
chromium: $(CHROMIUM)

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	else \
		echo "note: no $(CHROMIUM): install Chromium (sudo apt-get install chromium) for the browser tests"; \
	fi

# PoseNet in the browser: build the site (the camera demo and posenet.js) into $(OUT)/site and serve it.
web: setup webjs
	$(BIN)/posenet-onnx web -o $(OUT)/site --multiplier $(MULTIPLIER) --output-stride 8 16 \
		--onnxruntime-web scripts/web/node_modules/onnxruntime-web $(if $(CHECKPOINT_DIR),--checkpoint-dir $(CHECKPOINT_DIR)) --serve

test: setup jsref ortjs webjs chromium
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) $(OUT) build dist src/*.egg-info
