# case-triage: `make run` serves, `make test` runs the whole suite.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint clean bootstrap

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

bootstrap: install
	$(BIN)/triage bootstrap

run: bootstrap
	@echo
	@echo "Default case model ready. Try:"
	@echo "  $(BIN)/triage predict cases --text '买家开了A-to-Z说没收到，但是tracking显示delivered了'"
	$(BIN)/triage predict cases --text '买家开了A-to-Z说没收到，但是tracking显示delivered了'

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check triage api tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info
