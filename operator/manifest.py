"""The SentimentModel resources of a manifest file, read for ``render``.

What the API server would refuse before the spec is looked at (an unreadable file, YAML
that is invalid or unsafe to expand, a bad ``metadata.name``) is refused here too, as a
``ManifestError`` whose message is one line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from sentiment_operator import yamlio
from sentiment_operator.rules import DNS_LABEL, NAME_MAX_LENGTH
from sentiment_operator.spec import API_VERSION, KIND

# A namespace name is an RFC 1123 label (it may start with a digit).
_NAMESPACE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_NAMESPACE_MAX_LENGTH = 63
_SHOWN_MAX_CHARS = 80


class ManifestError(ValueError):
    """A manifest that cannot be rendered; the message is one line."""


@dataclass(frozen=True)
class Manifest:
    """One SentimentModel of a file: its identity and its raw (wire-format) spec."""

    name: str
    namespace: str | None
    uid: str
    spec: Any


def read(filename: str, stdin: TextIO) -> str:
    """The text of ``filename`` ('-' for ``stdin``), refused past ``yamlio.MAX_CHARS``."""
    try:
        if filename == "-":
            text = stdin.read(yamlio.MAX_CHARS + 1)
        else:
            with Path(filename).open(encoding="utf-8") as stream:
                text = stream.read(yamlio.MAX_CHARS + 1)
    except OSError as error:
        raise ManifestError(f"cannot read: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise ManifestError("not UTF-8 text") from None
    if len(text) > yamlio.MAX_CHARS:
        raise ManifestError(f"longer than {yamlio.MAX_CHARS} characters")
    return text


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_MAX_CHARS else text[: _SHOWN_MAX_CHARS - 3] + "..."


def _name(metadata: Mapping[str, Any]) -> str:
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise ManifestError("metadata.name is required")
    if len(name) > NAME_MAX_LENGTH:
        raise ManifestError(
            f"metadata.name is {len(name)} characters long, at most {NAME_MAX_LENGTH}: "
            "the Service is named after it"
        )
    if not re.search(DNS_LABEL, name):
        raise ManifestError(
            "metadata.name must be a DNS label (lower-case letters, digits and '-', starting "
            f"with a letter, ending with a letter or digit): the Service is named after it "
            f"(got {_shown(name)})"
        )
    return name


def _namespace(metadata: Mapping[str, Any]) -> str | None:
    namespace = metadata.get("namespace")
    if namespace is None:
        return None
    if not (
        isinstance(namespace, str)
        and len(namespace) <= _NAMESPACE_MAX_LENGTH
        and re.search(_NAMESPACE, namespace)
    ):
        raise ManifestError(f"metadata.namespace is not a namespace name (got {_shown(namespace)})")
    return namespace


def _manifest(doc: Mapping[str, Any]) -> Manifest:
    if doc.get("apiVersion") != API_VERSION:
        raise ManifestError(
            f"apiVersion must be {API_VERSION} (got {_shown(doc.get('apiVersion'))})"
        )
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict):
        raise ManifestError(f"metadata must be a mapping (got {type(metadata).__name__})")
    uid = metadata.get("uid", "")
    if not isinstance(uid, str):
        raise ManifestError(f"metadata.uid must be a string (got {_shown(uid)})")
    return Manifest(_name(metadata), _namespace(metadata), uid, doc.get("spec"))


def sentiment_models(text: str) -> list[Manifest]:
    """Every SentimentModel of a YAML stream, other kinds skipped."""
    try:
        docs = yamlio.load_all(text)
    except yamlio.YamlError as error:
        raise ManifestError(str(error)) from None
    found = []
    for number, doc in enumerate(docs, start=1):
        if doc.get("kind") != KIND:
            continue
        try:
            found.append(_manifest(doc))
        except ManifestError as error:
            raise ManifestError(f"document {number} ({KIND}): {error}") from None
    return found
