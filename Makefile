# Two commands: `make run` (the service, embedded, with demo data) and `make test` (the suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Two test processes: the machines this is built for have two cores.
PYTEST_ARGS ?= -n 2
# `make run PORT=8001` when 8000 is taken.
PORT ?= 8000

.PHONY: install run test lint bench chromium dovecot services clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/digest serve --demo --port $(PORT)

test: $(STAMP) chromium dovecot
	$(BIN)/ruff check app workers emails migrations tests bench
	$(BIN)/ruff format --check app workers emails migrations tests bench
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check app workers emails migrations tests bench
	$(BIN)/ruff format --check app workers emails migrations tests bench

# Install Debian packages quietly when missing: apt's output goes to a log shown only if the
# install fails. Without root or sudo, say loudly which tests will be skipped and go on.
define apt_install
	if [ "$$(id -u)" = 0 ]; then sudo=; elif command -v sudo >/dev/null 2>&1; then sudo=sudo; \
	else echo "!!! $(1) is not installed and cannot be installed here: $(2) will be SKIPPED !!!"; exit 0; fi; \
	log=$$(mktemp /tmp/digest-apt.XXXXXX.log); \
	echo "installing $(1) with apt-get (for $(2))"; \
	if $$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$$log" 2>&1 && \
	   $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	     $(1) >>"$$log" 2>&1; \
	then rm -f "$$log"; \
	else cat "$$log"; echo "!!! apt-get could not install $(1) (its output is above and in $$log)"; exit 1; fi
endef

# Browser tests drive Debian's chromium (never a downloaded browser); fonts-liberation is
# one of its recommends, named here so screenshots have text without the other recommends.
chromium:
	@command -v chromium >/dev/null 2>&1 || { $(call apt_install,chromium fonts-liberation,browser tests); }

# The bounce mailbox tests start Debian's Dovecot (IMAP and POP3).
dovecot:
	@{ [ -x /usr/sbin/dovecot ] && [ -x /usr/lib/dovecot/imap ] && [ -x /usr/lib/dovecot/pop3 ]; } || \
	{ $(call apt_install,dovecot-imapd dovecot-pop3d,bounce mailbox tests); }

bench: $(STAMP)
	$(BIN)/python bench/rank.py
	$(BIN)/python bench/rank_quality.py
	$(BIN)/python bench/story_quality.py
	$(BIN)/python bench/send.py
	$(BIN)/python bench/subscribe.py

clean:
	rm -rf var build *.egg-info
