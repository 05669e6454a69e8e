# Two commands do everything on a fresh machine:
#   make run    set up, start Kafka and a worker, run the demo, stop what was started
#   make test   set up, lint, type-check and run the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LINEAGE := $(BIN)/lineage

.PHONY: run test faults lint typecheck unit setup system-deps clean

setup: $(STAMP)

# Java 17 and Maven run and provision the local Kafka broker. Install them from the
# distribution when they are missing and we may (root on Debian); otherwise say how.
system-deps:
	@if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless maven; \
	  else \
	    echo "Java 17 and Maven are needed: apt-get install openjdk-17-jre-headless maven" >&2; \
	    exit 1; \
	  fi; \
	fi
	@# Graphviz's `dot` draws `lineage graph --format svg`.
	@if ! command -v dot >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq graphviz; \
	  else \
	    echo "Graphviz is needed for SVG pictures: apt-get install graphviz" >&2; \
	    exit 1; \
	  fi; \
	fi
	@# Prometheus and promtool: the tests scrape a real worker and unit-test the alert rules.
	@if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus; \
	  else \
	    echo "Prometheus is needed for the tests: apt-get install prometheus" >&2; \
	    exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml setup.py | system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(LINEAGE) up
	$(LINEAGE) demo; status=$$?; $(LINEAGE) down; exit $$status

lint: $(STAMP)
	$(BIN)/ruff check collector processors schemas tests setup.py
	$(BIN)/ruff format --check collector processors schemas tests setup.py

# mypy names modules after their folders; the links give it the installed import names.
typecheck: $(STAMP)
	@mkdir -p $(VENV)/typecheck
	@ln -sfn ../../collector $(VENV)/typecheck/lineage_collector
	@ln -sfn ../../processors $(VENV)/typecheck/lineage_processors
	$(BIN)/mypy

# The fault suite (tests/faults) runs inside `make test` at reduced size; `make faults` runs
# it alone at full size: more events, more kills, longer outages.
test: lint typecheck
	$(BIN)/python -m pytest

faults: $(STAMP)
	LINEAGE_FAULTS_SIZE=full $(BIN)/python -m pytest -m faults tests/faults

clean:
	-$(LINEAGE) down
	rm -rf $(VENV) .lineage
