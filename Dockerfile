# mold: one-command replication image (docs/container.md).
#   docker build -t mold .
#   docker run --gpus all -v $PWD/results:/mold/results -v $HOME/.cache/huggingface:/root/.cache/huggingface \
#              -e HF_TOKEN -e MOLD_PRESET=paper mold
# Nothing else is mounted: benchmark files are fetched inside (rule fetch_data) into results/.data, verified
# by sha256; -e MOLD_DATA_MIRROR=<url or mounted folder> serves them from a mirror instead.
# The base is a build argument; the default is a CUDA runtime image pinned by digest (amd64 manifest of
# nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04). Python 3.11 comes from Ubuntu's python3.11 packages.
ARG BASE_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04@sha256:59e0e4376a0f16d10b03d3a14344b80a866a1674cb4948cb318291387ac05010
FROM ${BASE_IMAGE}

# Torch wheel index: CUDA 12.8 build by default; `--build-arg TORCH_INDEX=https://download.pytorch.org/whl/cpu` for CPU.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cu128
ARG TORCH_VERSION=2.13.0
# Extra pip options for both installs, empty by default. A local build can point pip at wheels on disk,
# e.g. `--build-arg PIP_EXTRA_ARGS="--find-links /opt/wheels"` with `podman build -v /opt/wheels:/opt/wheels:ro`
# (workflow/scripts/podman_smoke.sh does this).
ARG PIP_EXTRA_ARGS=""
ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/mold-venv \
    PATH=/opt/mold-venv/bin:$PATH

RUN if ! command -v python3.11 >/dev/null 2>&1; then \
        apt-get update && apt-get install -y --no-install-recommends python3.11 python3.11-venv git ca-certificates \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && python3.11 -m venv "$VIRTUAL_ENV"

WORKDIR /mold
COPY requirements.lock pyproject.toml README.md ./
# torch from its CPU/CUDA index (the one difference from .ci/run), then every other package from the hash-pinned lock.
RUN pip install $PIP_EXTRA_ARGS --index-url "$TORCH_INDEX" "torch==${TORCH_VERSION}" \
    && pip install $PIP_EXTRA_ARGS --require-hashes --no-deps -r requirements.lock

COPY mold ./mold
COPY workflow ./workflow
COPY Snakefile ./
COPY tests ./tests
COPY bench ./bench
# No build isolation: the build backend is the lock's setuptools, already installed (nothing fetched).
RUN pip install $PIP_EXTRA_ARGS --no-deps --no-build-isolation -e . && mkdir -p results

# The data cache lives in the results mount, so a second run (or another preset) fetches nothing again.
ENV MOLD_DATA_DIR=/mold/results/.data \
    MOLD_PRESET=mini
CMD ["sh", "-c", "exec snakemake --cores all --config preset=\"$MOLD_PRESET\""]
