"""Per-region maps (T1w/T2w, any per-region TSV) found per subject in the BIDS input.

A map of a map-tied regional parameter (:mod:`tvbo_pipe.fit.maps`) is named
in the config in one of three ways:

- ``fc_gradient``: computed from the subject's empirical FC;
- a path: one dataset-level (group) TSV used for every subject;
- a pybids filter, ``{desc: myelin, suffix: map, extension: .tsv}``: one TSV
  per subject, looked up in the subject's session first, then at the subject
  level (no ``ses-`` entity), like the SC. Two keys are not entities:
  ``name`` (the map's name in the free values, ``model.w@<name>``; default
  the filter's ``desc``, else its ``suffix``) and ``fallback`` (a
  dataset-level TSV used for a subject without its own file; without it a
  missing file is an error naming the subject and the filter).

:func:`parse_maps` reads the maps of a stage's ``parameters``;
:func:`resolve_region_maps` turns them into one :class:`MapSource` per map
for one subject-session, and :func:`map_files` lists the files read (the
workflow's discovery gives them to Snakemake as inputs of ``fit_regional``, so
editing one reruns it). No JAX here: this runs at DAG time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, InputError

#: The built-in map computed from the subject's empirical FC.
FC_GRADIENT = "fc_gradient"
#: Keys of a map filter that are not pybids entities.
RESERVED = ("name", "fallback")


@dataclass(frozen=True)
class MapSource:
    """One resolved map.

    Attributes:
        name: The map's name (the free coefficient is ``path@name``).
        file: The TSV to read, or ``None`` for ``fc_gradient``.
    """

    name: str
    file: str | None


def map_name(item: str | Mapping) -> str:
    """The name of a configured map: ``fc_gradient``, a TSV's stem or the filter's name."""
    if isinstance(item, Mapping):
        name = item.get("name") or item.get("desc") or item.get("suffix")
        if not name:
            raise ConfigError(
                f"map filter {dict(item)} needs a name (name, desc or suffix)", key="maps"
            )
        return str(name)
    return item if item == FC_GRADIENT else Path(item).stem


def parse_maps(spec: Mapping[str, object] | None, *, key: str) -> dict[str, list[str | dict]]:
    """``{path: [map, ...]}`` from the ``maps`` entries of free-parameter specs.

    A map is a string (``fc_gradient`` or a TSV path) or a mapping (a pybids
    filter).

    Raises:
        ConfigError: ``maps`` is not a list of those (names ``key.path.maps``).
    """
    out = {}
    for path, bounds in (spec or {}).items():
        if isinstance(bounds, Mapping) and bounds.get("maps"):
            maps = bounds["maps"]
            if isinstance(maps, str | Mapping):
                maps = [maps]
            if not isinstance(maps, list | tuple) or not all(
                isinstance(m, str | Mapping) for m in maps
            ):
                raise ConfigError(
                    "maps must be a list of maps: fc_gradient, TSV paths or pybids filters",
                    key=f"{key}.{path}.maps",
                )
            out[path] = [dict(m) if isinstance(m, Mapping) else m for m in maps]
    return out


def map_files(resolved: Mapping[str, Sequence[MapSource]]) -> tuple[str, ...]:
    """The files the resolved maps are read from, one per map in the config's order
    (``fc_gradient`` has none): what :func:`resolve_region_maps` takes as ``files``."""
    return tuple(m.file for ms in resolved.values() for m in ms if m.file)


def split_prefix(prefix: str) -> tuple[str, str | None]:
    """``("01", "1")`` from ``sub-01_ses-1``; ``("01", None)`` from ``sub-01``."""
    parts = dict(p.split("-", 1) for p in prefix.split("_") if "-" in p)
    if "sub" not in parts:
        raise ConfigError(f"{prefix!r} names no subject (sub-<label>)", key="subject")
    return parts["sub"], parts.get("ses")


def find_map_file(
    layout, item: Mapping, subject: str, session: str | None, *, key: str
) -> str | None:
    """The file matching the map filter ``item`` for one subject-session, or its
    ``fallback``, or ``None`` when there is neither.

    Raises:
        InputError: More than one file matches (names the subject and the filter).
    """
    from .bids import _one, _query

    filters = {k: v for k, v in item.items() if k not in RESERVED}
    label = f"sub-{subject}" + (f" ses-{session}" if session else "")
    for ses in [session, None] if session is not None else [None]:
        hit = _one(
            _query(layout, filters, subject, ses, key=key),
            what=f"region map {filters}",
            subject=label,
            key=key,
        )
        if hit:
            return hit
    return item.get("fallback")


def resolve_region_maps(
    maps_of: Mapping[str, Sequence[str | Mapping]],
    *,
    bids_dir: str | Path | None,
    subject: str,
    key: str = "fit_regional.parameters",
    layout=None,
    files: Sequence[str] | None = None,
) -> dict[str, list[MapSource]]:
    """Every configured map of one subject-session as a :class:`MapSource`.

    Args:
        maps_of: ``{parameter path: [map, ...]}`` (:func:`~tvbo_pipe.fit.maps.parse_maps`).
        bids_dir: The BIDS input (needed only by maps given as pybids filters).
        subject: ``sub-<label>[_ses-<label>]``.
        key: Config key named in errors.
        layout: The dataset already indexed by pybids
            (:func:`tvbo_pipe.io.bids.open_layout` of ``bids_dir``); indexed
            here when ``None`` and a map is a filter.
        files: The files this resolution gave at planning time
            (:func:`map_files`, the workflow's inputs of ``fit_regional``):
            the maps take them in order and the dataset is not indexed again.

    Raises:
        ConfigError: A filter map without ``bids_dir`` (and no ``files``).
        InputError: A subject without a file matching a filter and no
            ``fallback``, or with several (names the subject and the filter);
            ``files`` that do not fit the configured maps.
    """
    filters = [m for ms in maps_of.values() for m in ms if isinstance(m, Mapping)]
    for m in filters:
        map_name(m)  # a bad filter fails before the dataset is indexed
    if files is not None:
        return _maps_from_files(maps_of, list(files), subject=subject, key=key)
    if filters and layout is None:
        if not bids_dir:
            raise ConfigError(
                "maps given as pybids filters need the BIDS dataset (bids_dir)", key=key
            )
        from .bids import open_layout

        layout = open_layout(bids_dir)
    sub, ses = split_prefix(subject)
    out: dict[str, list[MapSource]] = {}
    for path, items in maps_of.items():
        sources = []
        for k, item in enumerate(items):
            if not isinstance(item, Mapping):
                sources.append(MapSource(map_name(item), None if item == FC_GRADIENT else item))
                continue
            where = f"{key}.{path}.maps[{k}]"
            found = find_map_file(layout, item, sub, ses, key=where)
            if found is None:
                shown = {k2: v for k2, v in item.items() if k2 not in RESERVED}
                raise InputError(
                    f"no region map matching the pybids filter {shown} (and no fallback declared)",
                    subject=subject,
                    key=where,
                )
            sources.append(MapSource(map_name(item), str(found)))
        out[path] = sources
    return out


def _maps_from_files(
    maps_of: Mapping[str, Sequence[str | Mapping]], files: list[str], *, subject: str, key: str
) -> dict[str, list[MapSource]]:
    """:func:`resolve_region_maps` from the files it gave before (:func:`map_files`)."""
    wanted = [m for ms in maps_of.values() for m in ms if m != FC_GRADIENT]
    if len(files) != len(wanted):
        raise InputError(
            f"{len(files)} region map files given for {len(wanted)} configured maps "
            "(the config changed since the workflow was planned?)",
            subject=subject,
            key=key,
        )
    given = iter(files)
    out: dict[str, list[MapSource]] = {}
    for path, items in maps_of.items():
        out[path] = [
            MapSource(map_name(item), None if item == FC_GRADIENT else next(given))
            for item in items
        ]
    return out
