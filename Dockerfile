# The one image every process of the stack runs: api (default), worker, beat, migrate.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DIGEST_VAR_DIR=/var/lib/digest \
    DIGEST_LOG_FORMAT=json

WORKDIR /src
# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p app workers emails migrations \
    && touch app/__init__.py workers/__init__.py emails/__init__.py migrations/__init__.py \
    && pip install . \
    && pip uninstall -y weekly-digest
COPY app ./app
COPY workers ./workers
COPY emails ./emails
COPY migrations ./migrations
RUN pip install --no-deps . && rm -rf /src/build

# No root at run time; var/ (beat schedule) is the only place the app writes.
RUN useradd --system --uid 10001 --home-dir /var/lib/digest --create-home digest
USER digest
WORKDIR /var/lib/digest

EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"
CMD ["digest", "api", "--host", "0.0.0.0", "--port", "8000"]
