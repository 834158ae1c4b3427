"""YAML in and out, in the layout kubectl users expect (keys in insertion order)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml


def dump(obj: Any) -> str:
    """One YAML document."""
    return yaml.safe_dump(obj, sort_keys=False, width=100)


def dump_all(objs: Iterable[Any]) -> str:
    """A multi-document stream, each document introduced by ``---``."""
    return yaml.safe_dump_all(list(objs), sort_keys=False, width=100, explicit_start=True)


def load_all(text: str) -> list[dict[str, Any]]:
    """Every non-empty document of a stream; each must be a mapping."""
    docs = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    for doc in docs:
        if not isinstance(doc, dict):
            raise ValueError(f"expected a YAML mapping, got {type(doc).__name__}")
    return docs
