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

.PHONY: demo test install clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

demo: install
	mkdir -p var
	$(BIN)/flask migrate
	$(BIN)/flask seed-catalogue
	CITYTILES_ADMIN_PASSWORD='$(DEMO_ADMIN_PASSWORD)' $(BIN)/flask create-platform-admin --username admin --if-missing
	@echo
	@echo "citytiles on http://127.0.0.1:$(PORT)"
	@echo "  tiles:     http://127.0.0.1:$(PORT)/api/v1/cities/330100/services?channel=wechat"
	@echo "  API docs:  http://127.0.0.1:$(PORT)/api/v1/docs"
	@echo "  admin API: POST /admin/api/sessions {\"username\": \"admin\", \"password\": \"$(DEMO_ADMIN_PASSWORD)\"}"
	@echo
	exec $(BIN)/gunicorn -c config/gunicorn.conf.py wsgi:app

test: install
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) var .pytest_cache
