# syntax=docker/dockerfile:1
# Production builds keep the default BASE; --build-arg BASE=... takes a mirror or a local one.
ARG BASE=docker.io/library/python:3.12-slim-bookworm

# The dependencies are resolved for the image's own Python inside the build, so a host
# of any Python version builds the same image.
FROM ${BASE} AS build
# The PostgreSQL driver is in every image (one image serves both backends); EXTRAS=sim,postgres
# adds the bundled simulator (for the compose demo).
ARG EXTRAS="postgres"
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY migrations/ migrations/
COPY tracker/ tracker/
COPY simulator/ simulator/
# pip leaves the venv once it has installed: nothing in the final image can install code.
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --quiet ".${EXTRAS:+[$EXTRAS]}" \
 && /opt/venv/bin/pip uninstall --yes --quiet pip

FROM ${BASE}
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    TRACKER_DB=/var/lib/tracker/orders.db \
    TRACKER_LOG_FORMAT=json
RUN groupadd --system --gid 10001 tracker \
 && useradd --system --uid 10001 --gid tracker --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin tracker \
 && install -d -o tracker -g tracker -m 0750 /var/lib/tracker
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
WORKDIR /var/lib/tracker
VOLUME ["/var/lib/tracker"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["tracker", "healthcheck"]
ENTRYPOINT ["tracker"]
CMD ["run"]
