"""Read labelled reviews from a CSV (local or http(s)) or the Stanford ``aclImdb`` tarball."""

from __future__ import annotations

import hashlib
import re
import shutil
import tarfile
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd

from training.errors import UserError

TARBALL_SUFFIXES = (".tar.gz", ".tgz")
_ACLIMDB_MEMBER = re.compile(r"(?:^|/)(train|test)/(pos|neg)/[^/]+\.txt$")
_LABELS = {"pos": "positive", "neg": "negative"}
#: Column naming the half of the Stanford archive a review comes from (``train``/``test``).
SPLIT_COLUMN = "split"


def is_url(source: str) -> bool:
    """Whether ``source`` is an http(s) URL rather than a local path."""
    return urlparse(source).scheme in {"http", "https"}


def download(url: str, cache_dir: Path, timeout: float) -> Path:
    """Fetch ``url`` once into ``cache_dir`` and return the local copy."""
    name = Path(urlparse(url).path).name or "download"
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    target = cache_dir / f"{digest}-{name}"
    if target.exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, partial.open("wb") as out:  # noqa: S310 - scheme checked by is_url
            shutil.copyfileobj(response, out, length=1 << 20)
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        partial.unlink(missing_ok=True)
        reason = getattr(error, "reason", error)
        raise UserError(
            f"could not download {url}: {reason}; check the URL and the network, or set "
            "ingest.source in params.yaml to a local copy"
        ) from error
    partial.rename(target)
    return target


def read_aclimdb_tarball(path: Path) -> pd.DataFrame:
    """The labelled reviews of the Stanford ``aclImdb_v1.tar.gz``, each with its half."""
    rows: list[tuple[str, str, str]] = []
    try:
        with tarfile.open(path, mode="r|*") as archive:
            for member in archive:
                match = _ACLIMDB_MEMBER.search(member.name)
                if not member.isfile() or match is None:
                    continue
                handle = archive.extractfile(member)
                if handle is not None:
                    text = handle.read().decode("utf-8", errors="replace")
                    rows.append((text, _LABELS[match.group(2)], match.group(1)))
    except (tarfile.TarError, EOFError, OSError) as error:
        raise UserError(f"{path} is not a readable tar archive: {error}") from error
    if not rows:
        raise UserError(
            f"{path} holds no aclImdb reviews (expected aclImdb/train|test/pos|neg/*.txt): "
            "point ingest.source at aclImdb_v1.tar.gz or a CSV with columns review,sentiment"
        )
    return pd.DataFrame(rows, columns=["review", "sentiment", SPLIT_COLUMN])


def read_csv(path: Path) -> pd.DataFrame:
    """A CSV of reviews (gzip and other compressions inferred from the name)."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[])
    except UnicodeDecodeError as error:
        raise UserError(f"{path} is not UTF-8 text: re-save it as UTF-8 CSV") from error
    except (pd.errors.ParserError, pd.errors.EmptyDataError, OSError, EOFError) as error:
        raise UserError(
            f"{path} is not a readable CSV ({error}): expected columns review,sentiment"
        ) from error


def load_source(source: str, cache_dir: Path, timeout: float) -> tuple[pd.DataFrame, Path]:
    """Load reviews from ``source``; returns the raw frame and the local file it came from."""
    if is_url(source):
        path = download(source, cache_dir, timeout)
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise UserError(
                f"data source {source} does not exist: fix ingest.source in params.yaml "
                "to point at a CSV or aclImdb_v1.tar.gz"
            )
    if path.name.endswith(TARBALL_SUFFIXES):
        return read_aclimdb_tarball(path), path
    return read_csv(path), path


def file_sha256(path: Path) -> str:
    """Content hash of a file, recorded so a run says exactly which data it saw."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
