# AppOS as one image: supervisord runs every program; the host's Docker engine does the apps.
#
#   make image                               wheels + dashboard built on this machine, then this build
#   docker build -t appos/appos:latest .     anywhere a registry, PyPI and npm answer
#
# Without a registry (CI here): scripts/build-local-base makes a Debian base that already has every
# package below (debootstrap + docker import), `pip wheel` fills build/wheels/, the dashboard is
# built on the host, and `make image BASE_IMAGE=<that base>` passes:
#   --build-arg BASE_IMAGE=<base> --build-arg NODE_IMAGE=<base> --build-arg DASHBOARD_PREBUILT=1
# Then nothing in the build reaches the network. Works with the classic builder (no BuildKit needed).
#
# Run (install.sh does this):
#   docker run -d --name appos --network host --restart unless-stopped \
#     -v /var/run/docker.sock:/var/run/docker.sock \
#     -v /var/lib/appos:/var/lib/appos -e APPOS_DATA=/var/lib/appos appos/appos:latest
# The data folder is mounted at the same path inside and out, so paths in apps' compose files mean
# the same thing to the host's engine; host networking lets Caddy serve 80/443 and reach the apps'
# published ports on 127.0.0.1 (see docs/architecture.md, "The image").

ARG BASE_IMAGE=debian:bookworm-slim
ARG NODE_IMAGE=node:22-bookworm-slim

# ---- 1. the dashboard's static build (or the one built on the host: DASHBOARD_PREBUILT=1)
FROM ${NODE_IMAGE} AS dashboard
ARG DASHBOARD_PREBUILT=0
WORKDIR /src
COPY dashboard/ ./
RUN if [ "$DASHBOARD_PREBUILT" = 1 ]; then \
      test -f dist/index.html || { echo "DASHBOARD_PREBUILT=1 but dashboard/dist/index.html is missing" >&2; exit 1; }; \
    else \
      npm ci --no-audit --no-fund && npm run build; \
    fi

# ---- 2. the Debian packages every later stage shares (none are installed when the base has them)
FROM ${BASE_IMAGE} AS system
COPY deploy/image/ensure-packages /usr/local/sbin/ensure-packages
RUN ensure-packages python3 redis-server caddy ca-certificates tini

# ---- 3. the docker CLI alone, from Debian's docker.io (terminals `docker exec` into app containers)
FROM system AS dockercli
RUN mkdir /out \
 && if command -v docker >/dev/null; then cp "$(command -v docker)" /out/docker; \
    else apt-get update -q && cd /tmp && apt-get download -q docker.io \
      && dpkg-deb --fsys-tarfile docker.io_*.deb | tar -x -C /tmp ./usr/bin/docker \
      && cp /tmp/usr/bin/docker /out/docker; fi

# ---- 4. the venv with the pinned dependencies (offline from build/wheels/ when it has wheels)
#         and the generated gRPC stubs (what `make proto` does)
FROM system AS venv
RUN ensure-packages python3-venv
COPY pyproject.toml build/whee[l]s /tmp/wheels/
RUN python3 -m venv /opt/appos/venv \
 && if ls /tmp/wheels/*.whl >/dev/null 2>&1; then \
      /opt/appos/venv/bin/pip install -q --no-cache-dir --no-index --find-links /tmp/wheels appos; \
    else \
      mkdir /tmp/src && cp /tmp/wheels/pyproject.toml /tmp/src/ \
      && /opt/appos/venv/bin/pip install -q --no-cache-dir /tmp/src; \
    fi \
 && SITE="$(/opt/appos/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
 && echo /opt/appos/app > "$SITE/appos-checkout.pth" \
 && rm -rf /tmp/wheels /tmp/src
WORKDIR /opt/appos/app
COPY proto/ proto/
RUN SITE="$(/opt/appos/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
 && mkdir -p appos/v1 \
 && /opt/appos/venv/bin/python -m grpc_tools.protoc -Iproto -I"$SITE" \
      --python_out=. --grpc_python_out=. proto/appos/v1/*.proto \
 && touch appos/__init__.py appos/v1/__init__.py \
 && rm -rf proto

# ---- 5. the runtime
FROM system AS runtime
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/appos --shell /bin/bash appos
COPY --from=dockercli /out/docker /usr/local/bin/docker
COPY --from=venv /opt/appos /opt/appos
WORKDIR /opt/appos/app
COPY supervisord.conf pyproject.toml ./
COPY services/ services/
COPY cli/ cli/
COPY catalog/ catalog/
COPY --from=dashboard /src/dist/ dashboard/dist/
COPY deploy/image/entrypoint.sh /usr/local/bin/appos-entrypoint
RUN /opt/appos/venv/bin/python -m compileall -q services cli appos >/dev/null

# APPOS_PYTHON_OPTIMIZE=0: this venv is read-only to the programs and holds no -OO bytecode, so
# `make run`'s -OO (services/launcher.py) would compile every module at each start here
ENV PATH=/opt/appos/venv/bin:$PATH \
    LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    APPOS_DATA=/appos/data \
    APPOS_HOST=0.0.0.0 \
    APPOS_PORT=8080 \
    APPOS_PYTHON_OPTIMIZE=0
VOLUME /appos/data
EXPOSE 8080 8081 80 443
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
  CMD python -c "import os, urllib.request as u; h = os.environ.get('APPOS_HOST', '127.0.0.1'); h = '127.0.0.1' if h in ('0.0.0.0', '::', '') else h; u.urlopen('http://%s:%s/health' % (h, os.environ.get('APPOS_PORT', '8080')), timeout=4)"
# tini reaps what the programs leave behind; the launcher becomes supervisord (a helper prints the URL and password)
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/appos-entrypoint"]
CMD ["python", "-m", "services.launcher"]
