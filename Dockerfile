# The tvbo_pipe BIDS app:
#   docker build -t ghcr.io/tvbo-pipe/tvbo_pipe:0.1.0 .
#   docker run --rm -v /data/bids:/bids:ro -v /data/out:/out \
#       ghcr.io/tvbo-pipe/tvbo_pipe:0.1.0 /bids /out participant --nprocs 8
# The same package as `pip install .` (the workflow ships inside it), with the
# `cluster` extra (SLURM executor). Keep TVBO_PIPE_CONTAINER's tag equal to
# pyproject.toml's version (tests/unit/test_container.py checks).
FROM python:3.11-slim

ENV TVBO_PIPE_CONTAINER=docker://ghcr.io/tvbo-pipe/tvbo_pipe:0.1.0 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    MPLCONFIGDIR=/tmp/matplotlib

COPY . /tmp/tvbo_pipe
RUN pip install "/tmp/tvbo_pipe[cluster]" \
    && rm -rf /tmp/tvbo_pipe \
    && tvbo-pipe --version

LABEL org.opencontainers.image.source="https://github.com/tvbo-pipe/tvbo_pipe" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.title="tvbo_pipe BIDS app"

ENTRYPOINT ["tvbo-pipe"]
