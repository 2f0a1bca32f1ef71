# Two commands do all the set-up on a fresh machine (Python 3.11+ needed):
#   make run    start the bot: Telegram when .env has a token, else a chat in this terminal
#   make test   install what is needed, then lint, validate the knowledge base and run all tests
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run chat check test bench model

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed: set PYTHON=python3.11")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[test]"
	@rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP)
	$(PY) -m bot

chat: $(STAMP)
	$(PY) -m bot chat

check: $(STAMP)
	$(PY) -m bot check

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m bot check
	$(PY) -m pytest -n 4

bench: $(STAMP)
	$(PY) -m benchmarks.understanding

model: $(STAMP)
	$(PY) -m benchmarks.train_risk_model
	$(PY) -m benchmarks.train_topic_model
