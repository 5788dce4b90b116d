# Set-up, serving, tests and benchmarks. `make run` and `make test` are all a new machine needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
AZURITE := node_modules/.bin/azurite
OHIF_VERSION := 3.13.2
OHIF := .cache/ohif

.PHONY: run test test-blob test-browser lint bench fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The package's bytecode is compiled once here, as a wheel install would: a server (or a test's) then starts
# without compiling it, even where PYTHONDONTWRITEBYTECODE keeps Python from caching it.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	$(BIN)/python -m compileall -q src
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/python -m compileall -q src
	touch $(STAMP) $@

run: $(STAMP)
	$(BIN)/azure-dicom-emulator serve

# Azurite (the Azure Storage emulator) for the storage-queue sink's tests, pinned in package-lock.json.
$(AZURITE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The whole suite, then the end-to-end suite again with every server's files in Azure Blob Storage (Azurite), so
# that every DICOMweb answer is shown the same whichever store holds the files.
test: $(TEST_STAMP) $(AZURITE)
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not browser"
	$(MAKE) --no-print-directory test-blob

# The end-to-end suite with every server keeping its files in an Azurite container instead of its data dir (the
# fuzz run reads the data dir itself, and the bulk loader hard-links files of the filesystem store).
test-blob: $(TEST_STAMP) $(AZURITE)
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not browser" --blob-store azurite tests/e2e \
		--deselect tests/e2e/test_fuzz.py --deselect tests/e2e/test_bulk_index.py

# The OHIF viewer in headless Chromium (takes minutes): OHIF's prebuilt dist/ from npm, Chromium from Debian.
test-browser: $(TEST_STAMP) $(OHIF)/.version-$(OHIF_VERSION) /usr/bin/chromedriver
	$(BIN)/python -m pytest -q -p no:cacheprovider -m browser tests/browser

$(OHIF)/.version-$(OHIF_VERSION):
	rm -rf $(OHIF) && mkdir -p $(OHIF)
	cd $(OHIF) && npm pack --silent @ohif/app@$(OHIF_VERSION) >/dev/null && tar xzf ohif-app-$(OHIF_VERSION).tgz --strip-components=1 && rm ohif-app-$(OHIF_VERSION).tgz
	touch $@

/usr/bin/chromedriver:
	apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(TEST_STAMP)
	$(BIN)/python bench/run.py

# The long fuzz run (10,000 cases against a server of its own); tests/e2e/test_fuzz.py runs a few hundred.
fuzz: $(TEST_STAMP)
	$(BIN)/python bench/fuzz.py

clean:
	rm -rf $(VENV) data node_modules .cache
