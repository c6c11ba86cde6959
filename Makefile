# The README's two commands. Each sets itself up from a fresh clone: only Python 3.11 and the
# package registries are needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
SANDBOX_PORT ?= 8700
DEMO_ADMIN_PASSWORD ?= citytiles-demo-admin
export FLASK_APP := wsgi
export PORT

.PHONY: demo reconcile-demo test install clean mutation browser

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

# The demo talks to the sandbox instead of WeChat and Alipay.
demo reconcile-demo: export WECHAT_API_BASE_URL = http://127.0.0.1:$(SANDBOX_PORT)
demo reconcile-demo: export ALIPAY_GATEWAY_URL = http://127.0.0.1:$(SANDBOX_PORT)/gateway.do
demo reconcile-demo: export WECHAT_PAY_BASE_URL = http://127.0.0.1:$(SANDBOX_PORT)
demo reconcile-demo: export PUBLIC_URL = http://127.0.0.1:$(PORT)

# The sandbox starts first (it writes the channel keys citytiles reads) and stops with citytiles.
demo: install
	mkdir -p var
	@$(BIN)/python -m sandbox --host 127.0.0.1 --port $(SANDBOX_PORT) --state-dir var/sandbox \
	    --citytiles-url http://127.0.0.1:$(PORT) & sandbox=$$!; \
	trap 'kill $$sandbox 2>/dev/null' EXIT INT TERM; \
	for i in $$(seq 1 50); do [ -f var/sandbox/public/alipay_public_key.pem ] && \
	    $(BIN)/python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$(SANDBOX_PORT)/_sandbox/config', timeout=1)" \
	    2>/dev/null && break; sleep 0.2; done; \
	$(BIN)/flask migrate && $(BIN)/flask seed-catalogue && \
	{ while sleep 30; do $(BIN)/flask sweep-payments >/dev/null 2>&1; done & } && sweeper=$$! && \
	trap 'kill $$sandbox $$sweeper 2>/dev/null' EXIT INT TERM && \
	CITYTILES_ADMIN_PASSWORD='$(DEMO_ADMIN_PASSWORD)' $(BIN)/flask create-platform-admin --username admin --if-missing && \
	echo && echo "citytiles on http://127.0.0.1:$(PORT)" && \
	echo "  super-app sandbox: http://127.0.0.1:$(SANDBOX_PORT)/_sandbox/  (log in as a WeChat or Alipay resident)" && \
	echo "  tiles:             http://127.0.0.1:$(PORT)/api/v1/cities/330100/services?channel=wechat" && \
	echo "  API docs:          http://127.0.0.1:$(PORT)/api/v1/docs" && \
	echo "  admin login:       POST /admin/api/sessions {\"username\": \"admin\", \"password\": \"$(DEMO_ADMIN_PASSWORD)\"}" && \
	echo "  admin console:     http://127.0.0.1:$(PORT)/admin/  (admin / $(DEMO_ADMIN_PASSWORD))" && \
	echo "  reconcile today:   make reconcile-demo   (in another terminal, while the demo runs)" && \
	echo && $(BIN)/gunicorn -c config/gunicorn.conf.py wsgi:app

# The browser tests drive Debian's Chromium (Playwright cannot download its own here), with a CJK font
# so the zh-CN pages render in their screenshots. Installed when missing and we are root (as on CI);
# otherwise the browser tests skip locally and fail in CI.
CHROMIUM := /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ] || [ ! -d /usr/share/fonts/truetype/wqy ]; then \
	    if [ "$$(id -u)" = 0 ]; then \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null; \
	    else echo "Chromium or its CJK font is missing; as root: apt-get install -y chromium fonts-wqy-zenhei"; fi; \
	fi

# Today's bills of the demo's merchants, from the running demo's sandbox, reconciled now.
# A channel with no payments today has no bill yet: its run waits (exit 75), which is no failure here.
reconcile-demo: install
	$(BIN)/flask reconcile --date $$(TZ=Asia/Shanghai date +%F) || [ $$? = 75 ]

test: install browser
	$(BIN)/pytest -q -n auto

# Mutation testing over the modules that guard identity, money and access, one area at a time with the
# tests that guard it (mutation/areas.py: identity/ in two parts, outbound/ with the test Redis, the city services'
# use-cases). Too slow for CI and not part of `make test`: run it before resolving an issue that touches
# those modules; `make mutation MUTATION_AREAS=outbound` runs one area. SQLite only; per mutant only the
# area's tests that reach the mutated function run, stopping at the first failure. Each area's results stay
# in var/mutation/<area>/mutants (`cd var/mutation/<area> && ../../../.venv/bin/mutmut show NAME`; `mutmut
# run NAME...` there re-checks named mutants after new tests, `python mutation/score.py` there rescores).
# About 5 min for outbound/, 40 for the city services, 45 for billing, 2 for the callback lane, 20 and 60 for the two
# identity/ parts on two cores.
MUTATION_AREAS ?= outbound city_services billing callbacks reconciliation identity access
mutation: install
	$(BIN)/python mutation/named_bugs.py; bugs=$$?; $(BIN)/python mutation/areas.py $(MUTATION_AREAS) && exit $$bugs

clean:
	rm -rf $(VENV) var .pytest_cache mutants
