# syntax=docker/dockerfile:1
# A first image: the simulator, as a non-root user. The hardened multi-stage tracker image
# (read-only root, health check, volume for the book) arrives with the operations work.
ARG BASE=python:3.11-slim
FROM ${BASE}
WORKDIR /app
COPY pyproject.toml README.md ./
COPY tracker ./tracker
RUN pip install --no-cache-dir '.[sim]'
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["tracker"]
CMD ["sim", "--host", "0.0.0.0", "--port", "8080"]
