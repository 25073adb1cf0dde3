# Two commands: `make run` (the service, embedded, with demo data) and `make test` (the suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Two test processes: the machines this is built for have two cores.
PYTEST_ARGS ?= -n 2

.PHONY: install run test lint bench chromium dovecot services clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/digest serve --demo

test: $(STAMP) chromium dovecot
	$(BIN)/ruff check app workers emails migrations tests bench
	$(BIN)/ruff format --check app workers emails migrations tests bench
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check app workers emails migrations tests bench
	$(BIN)/ruff format --check app workers emails migrations tests bench

# Browser tests drive Debian's chromium; install it when missing (never a downloaded browser).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  elif command -v sudo >/dev/null 2>&1; then sudo apt-get update -qq && sudo apt-get install -y -qq chromium; \
	  else echo "!!! chromium is not installed and cannot be installed here: browser tests will be SKIPPED !!!"; fi; }

# The bounce mailbox tests start Debian's Dovecot (IMAP and POP3); install it when missing.
dovecot:
	@{ [ -x /usr/sbin/dovecot ] && [ -x /usr/lib/dovecot/imap ] && [ -x /usr/lib/dovecot/pop3 ]; } || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq dovecot-imapd dovecot-pop3d; \
	  elif command -v sudo >/dev/null 2>&1; then sudo apt-get update -qq && sudo apt-get install -y -qq dovecot-imapd dovecot-pop3d; \
	  else echo "!!! dovecot is not installed and cannot be installed here: bounce mailbox tests will be SKIPPED !!!"; fi; }

bench: $(STAMP)
	$(BIN)/python bench/rank.py
	$(BIN)/python bench/rank_quality.py
	$(BIN)/python bench/story_quality.py
	$(BIN)/python bench/send.py
	$(BIN)/python bench/subscribe.py

clean:
	rm -rf var build *.egg-info
