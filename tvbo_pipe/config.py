"""The workflow configuration: loading, default filling and validation.

The JSON schema ``tvbo_pipe/data/config.schema.yaml`` (linked from
``workflow/schemas/``) documents every key with a description and a default.
Defaults are applied to missing keys and to keys given as ``null`` where the
schema does not allow null (Snakemake's own ``validate`` leaves those alone,
snakemake issue #1701).
"""

from __future__ import annotations

import copy
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .errors import ConfigError


@cache
def config_schema() -> dict:
    """The configuration's JSON schema as a dict."""
    return yaml.safe_load(files("tvbo_pipe").joinpath("data/config.schema.yaml").read_text())


def _allows_null(schema: dict) -> bool:
    t = schema.get("type")
    return t == "null" or (isinstance(t, list) and "null" in t)


def resolve(schema: dict, root: dict | None = None) -> dict:
    """``schema`` with a local ``$ref`` (``#/$defs/name``) merged in."""
    ref = schema.get("$ref")
    if not ref:
        return schema
    root = root or config_schema()
    target = root
    for part in ref.lstrip("#/").split("/"):
        target = target[part]
    local = {k: v for k, v in schema.items() if k != "$ref"}
    merged = {**target, **local}
    if "properties" in local:  # local properties refine the referenced ones
        merged["properties"] = {**target.get("properties", {}), **local["properties"]}
    return merged


def _fill_defaults(value: Any, schema: dict) -> Any:
    schema = resolve(schema)
    if schema.get("type") != "object" or not isinstance(value, dict):
        return value
    for key, sub in schema.get("properties", {}).items():
        sub = resolve(sub)
        if "default" in sub and (
            key not in value or (value[key] is None and not _allows_null(sub))
        ):
            value[key] = copy.deepcopy(sub["default"])
        if key in value:
            value[key] = _fill_defaults(value[key], sub)
    return value


def _format_error(err: jsonschema.ValidationError) -> ConfigError:
    key = ".".join(str(p) for p in err.absolute_path) or "<top level>"
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed))
        where = f"{key}." if err.absolute_path else ""
        return ConfigError(
            f"unknown key(s) {', '.join(where + e for e in extra)}; valid keys here: "
            f"{', '.join(allowed)}",
            key=(where + extra[0]) if extra else key,
        )
    if err.validator == "enum":
        return ConfigError(
            f"{err.instance!r} is not a valid choice; valid: "
            f"{', '.join(map(str, err.validator_value))}",
            key=key,
        )
    if err.validator == "type":
        return ConfigError(
            f"expected {err.validator_value}, got {type(err.instance).__name__} {err.instance!r}",
            key=key,
        )
    return ConfigError(err.message, key=key)


def validate_config(config: dict | None) -> dict:
    """Fill defaults into a copy of ``config`` and validate it.

    Returns:
        The completed configuration.

    Raises:
        ConfigError: Naming the offending key and what is expected.
    """
    cfg = _fill_defaults(copy.deepcopy(config or {}), config_schema())
    validator = jsonschema.Draft202012Validator(config_schema())
    errors = sorted(validator.iter_errors(cfg), key=lambda e: list(e.absolute_path))
    if errors:
        raise _format_error(errors[0])
    return cfg


def load_config(path: str | Path) -> dict:
    """Read a YAML configuration file, fill defaults and validate it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"configuration file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping of keys, got {type(raw).__name__}")
    try:
        return validate_config(raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
