# One image for the API, the migration job and the workers; the command differs per service.
# For GPU workers, build with a CUDA base image and a CUDA build of torch, e.g.:
#   docker build --build-arg BASE=nvidia/cuda:12.4.1-runtime-ubuntu22.04 --build-arg TORCH_SPEC="torch" .
ARG BASE=python:3.11-slim
FROM ${BASE}

ARG TORCH_SPEC="torch==2.13.0"
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    BONAS_HOST=0.0.0.0

RUN if ! command -v python3 >/dev/null; then \
        apt-get update && apt-get install -y --no-install-recommends python3 python3-pip python3-venv \
        && rm -rf /var/lib/apt/lists/*; \
    fi

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY surrogate ./surrogate
COPY workers ./workers
COPY service ./service
COPY migrations ./migrations
RUN python3 -m pip install "${TORCH_SPEC}" && python3 -m pip install .

RUN useradd --create-home bonas && mkdir -p /data && chown bonas /data
USER bonas
EXPOSE 8000
CMD ["bonas", "serve"]
