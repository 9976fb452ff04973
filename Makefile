# The README's two commands: `make demo` and `make test`. Both set up .venv on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev


.PHONY: demo test test-fast lint typecheck docs pytest bench bench-quick bench-report chaos clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/harvester demo

test: lint typecheck docs pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

# the documentation site (mkdocs.yml), strictly: a broken link, anchor or include fails; into
# site/, which git ignores (not --quiet: it hides the warnings that --strict counts)
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

# pytest's workers: two a core (the tests wait on processes, sockets and the disk more than they
# compute: on 2 cores 4 workers took 6 min, 2 took 7 and 6 took 7.5), at most eight; an idle
# worker takes tests queued for a busy one, so the longest do not end the run alone
WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$(( n * 2 > 8 ? 8 : n * 2 )))

# every test but the long chaos campaigns
pytest: $(STAMP)
	$(BIN)/pytest -q -n $(WORKERS) --dist worksteal -m "not chaos"

# the loop while changing code: lint, types, and every test but the slow and chaos ones
test-fast: lint typecheck
	$(BIN)/pytest -q -n $(WORKERS) --dist worksteal -m "not slow and not chaos"

# every scenario, full size (about half an hour); then the README's table from its JSON
bench: $(STAMP)
	$(BIN)/python -m bench

# the whole loop at scaled-down sizes in under 5 minutes: a smoke test, not a measurement
bench-quick: $(STAMP)
	$(BIN)/python -m bench --quick

bench-report: $(STAMP)
	$(BIN)/python -m bench.report bench/results/latest.json

# the long fault campaigns, then the fuzz tests searching for new examples (not the replay)
chaos: $(STAMP)
	$(BIN)/pytest -q -m chaos tests/chaos
	HYPOTHESIS_PROFILE=search $(BIN)/pytest -q tests/config/test_fuzz_jobs.py tests/fetch/test_fuzz_server.py

clean:
	rm -rf $(VENV) build site *.egg-info .pytest_cache .mypy_cache .ruff_cache
