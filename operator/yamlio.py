"""YAML in and out, in the layout kubectl users expect (keys in insertion order)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml
from yaml.nodes import Node

#: The longest stream ``load_all`` reads: far above any real manifest (the API server
#: itself refuses requests over 3 MiB), far below what takes long to parse.
MAX_CHARS = 1 << 20


class YamlError(ValueError):
    """A YAML stream that cannot be read, or not safely; the message is one line."""


class _NoAliasLoader(yaml.SafeLoader):
    """A safe loader that refuses aliases: nested ones expand exponentially (billion laughs)."""

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise YamlError(
                f"YAML aliases (*name) are not supported (line {mark.line + 1}, "
                f"column {mark.column + 1})"
            )
        return super().compose_node(parent, index)


def dump(obj: Any) -> str:
    """One YAML document."""
    return yaml.safe_dump(obj, sort_keys=False, width=100)


def dump_all(objs: Iterable[Any]) -> str:
    """A multi-document stream, each document introduced by ``---``."""
    return yaml.safe_dump_all(list(objs), sort_keys=False, width=100, explicit_start=True)


def _one_line(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError) and error.problem:
        text = f"{error.context}: {error.problem}" if error.context else error.problem
        mark = error.problem_mark or error.context_mark
        if mark is not None:
            text += f" (line {mark.line + 1}, column {mark.column + 1})"
        return text
    return " ".join(str(error).split())


def load_all(text: str) -> list[dict[str, Any]]:
    """Every non-empty document of a stream; each must be a mapping.

    Raises ``YamlError`` for a stream over ``MAX_CHARS``, invalid YAML, aliases,
    nesting too deep to follow, or a document that is not a mapping.
    """
    if len(text) > MAX_CHARS:
        raise YamlError(f"longer than {MAX_CHARS} characters")
    try:
        docs = [doc for doc in yaml.load_all(text, Loader=_NoAliasLoader) if doc is not None]
    except YamlError:
        raise
    except yaml.YAMLError as error:
        raise YamlError(f"invalid YAML: {_one_line(error)}") from None
    except RecursionError:
        raise YamlError("invalid YAML: nested too deeply") from None
    except ValueError as error:  # a scalar the constructor rejects, e.g. 2025-13-01
        raise YamlError(f"invalid YAML: {' '.join(str(error).split())}") from None
    for number, doc in enumerate(docs, start=1):
        if not isinstance(doc, dict):
            raise YamlError(f"document {number} is a {type(doc).__name__}, not a mapping")
    return docs
