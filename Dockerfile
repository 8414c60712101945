# syntax=docker/dockerfile:1
# Multi-stage: build the virtual environment and fetch GraphiQL's files (npm, hash-checked)
# in a build stage; the runtime stage has neither compilers nor Node.js, runs as a non-root
# user, and serves GraphiQL from the baked-in files (no CDN, no npm at start).

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
ENV VIRTUAL_ENV=/opt/venv PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
# Behind a TLS-inspecting proxy, pass its CA bundle for pip and npm to trust:
#   --secret id=ca_bundle,src=/path/to/ca-bundle.crt  (never stored in the image)
RUN --mount=type=secret,id=ca_bundle \
    if [ -s /run/secrets/ca_bundle ]; then \
      export PIP_CERT=/run/secrets/ca_bundle npm_config_cafile=/run/secrets/ca_bundle; \
    fi \
 && /opt/venv/bin/pip install . \
 && /opt/venv/bin/seal-gateway graphiql fetch --dir /opt/graphiql

FROM ${PYTHON_IMAGE} AS runtime
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin gateway \
 && mkdir -p /var/lib/seal-gateway && chown gateway /var/lib/seal-gateway
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/graphiql /opt/graphiql
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SEALGW_HOST=0.0.0.0 \
    SEALGW_PORT=8000 \
    SEALGW_GRAPHIQL_ASSETS=/opt/graphiql \
    SEALGW_GRAPHIQL_FETCH=off \
    SEALGW_DATA_DIR=/var/lib/seal-gateway
# the seal event log without Redis (SQLite): keep it across containers
VOLUME ["/var/lib/seal-gateway"]
USER gateway
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
# Vendors and callers come from the environment or a mounted tenants file (README); with
# none, the gateway refuses a non-loopback bind rather than serve an open demo.
CMD ["seal-gateway", "serve"]
