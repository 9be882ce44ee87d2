"""The container tvbo_pipe runs in, for ``GeneratedBy[0].Container``.

The images built from ``Dockerfile`` and ``Apptainer.def`` set
``TVBO_PIPE_CONTAINER`` to ``TYPE://TAG`` (``docker://ghcr.io/tvbo-pipe/tvbo_pipe:0.1.0``);
outside a container it is unset and nothing is recorded.
"""

from __future__ import annotations

import os

#: the environment variable the container recipes set
ENV_VAR = "TVBO_PIPE_CONTAINER"


def container_record(value: str | None = None) -> dict[str, str] | None:
    """BIDS ``GeneratedBy.Container`` of the running container, or ``None``.

    Args:
        value: ``TYPE://TAG``; default: the ``TVBO_PIPE_CONTAINER`` environment variable.

    Returns:
        ``{"Type": TYPE, "Tag": TAG, "URI": value}``, or ``None`` when unset or empty.

    Raises:
        ValueError: ``value`` is not of the form ``TYPE://TAG``.
    """
    value = os.environ.get(ENV_VAR) if value is None else value
    if not value:
        return None
    kind, sep, tag = value.partition("://")
    if not sep or not kind or not tag:
        raise ValueError(f"{ENV_VAR}={value!r}: expected TYPE://TAG, e.g. docker://image:version")
    return {"Type": kind, "Tag": tag, "URI": value}
