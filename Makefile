# The README's two set-up commands: `make run` (train LeNet on Fashion-MNIST) and `make test`.
# Both create .venv on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FMNIST_DIR := /usr/share/datasets/fashion-mnist
PYTEST_ARGS ?=

.PHONY: run test lint format data bench clean

$(BIN)/cnntui-installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# Debian ships the official Fashion-MNIST files; elsewhere cnntui downloads them on first use.
data:
	@if [ ! -d $(FMNIST_DIR) ] && command -v apt-get >/dev/null; then \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq dataset-fashion-mnist; \
	fi

run: $(BIN)/cnntui-installed data
	$(BIN)/cnntui run lenet --dataset fmnist

# pytest exits 5 when it collected no tests: that is a failure here, not a pass.
test: $(BIN)/cnntui-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

lint: $(BIN)/cnntui-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(BIN)/cnntui-installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(BIN)/cnntui-installed data
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) dist build .pytest_cache .ruff_cache .mypy_cache
