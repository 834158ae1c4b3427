"""The ingest stage: every source kind, splits, and one clear line for every user mistake."""

from __future__ import annotations

import functools
import http.server
import io
import json
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from training.errors import UserError
from training.ingest import ingest
from training.params import IngestParams


def write_params(directory: Path, **ingest_values) -> Path:
    path = directory / "params.yaml"
    path.write_text(yaml.safe_dump({"ingest": ingest_values}), encoding="utf-8")
    return path


def run_ingest(cwd: Path, source: str, **extra) -> subprocess.CompletedProcess[str]:
    write_params(cwd, source=source, **extra)
    return subprocess.run(
        [sys.executable, "-m", "training.ingest"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd)},
    )


def make_tarball(path: Path, reviews: dict[str, list[str]]) -> None:
    with tarfile.open(path, "w:gz") as archive:
        for split in ("train", "test"):
            for folder, texts in reviews.items():
                for number, text in enumerate(texts):
                    data = f"{split} {text}".encode()
                    info = tarfile.TarInfo(f"aclImdb/{split}/{folder}/{number}_7.txt")
                    info.size = len(data)
                    archive.addfile(info, io.BytesIO(data))
        junk = b"unlabelled"
        info = tarfile.TarInfo("aclImdb/train/unsup/0_0.txt")
        info.size = len(junk)
        archive.addfile(info, io.BytesIO(junk))


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A real HTTP server on loopback serving files from a folder."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_csv_sample_split_is_stratified_and_reproducible(imdb_csv, tmp_path):
    params = IngestParams(source=str(imdb_csv), max_rows=1000, test_size=0.25, seed=3)
    first = ingest(params, tmp_path / "a")
    ingest(params, tmp_path / "b")
    train = pd.read_parquet(tmp_path / "a/train.parquet")
    test = pd.read_parquet(tmp_path / "a/test.parquet")
    assert (len(train), len(test)) == (750, 250)
    assert set(train["review"]).isdisjoint(test["review"])
    counts = train["sentiment"].value_counts()
    assert abs(counts["positive"] - counts["negative"]) <= 2  # stratified: the file is 50/50
    pd.testing.assert_frame_equal(train, pd.read_parquet(tmp_path / "b/train.parquet"))
    assert first["rows_read"] == len(pd.read_csv(imdb_csv))
    summary = json.loads((tmp_path / "a/ingest.json").read_text())
    assert summary["train_rows"] == 750
    assert summary["final_fit_splits"] == ["train", "test"]  # a CSV: all of it, after scoring
    assert "near-duplicate" in summary["evaluation"]


def test_stanford_tarball_keeps_its_halves(tmp_path):
    tarball = tmp_path / "aclImdb_v1.tar.gz"
    make_tarball(tarball, {"pos": ["good", "great", "fine"], "neg": ["bad", "awful", "poor"]})
    summary = ingest(IngestParams(source=str(tarball), test_size=0.5), tmp_path / "out")
    train = pd.read_parquet(tmp_path / "out/train.parquet")
    test = pd.read_parquet(tmp_path / "out/test.parquet")
    assert len(train) == len(test) == 6  # unlabelled reviews skipped
    assert all(text.startswith("train ") for text in train["review"])
    assert all(text.startswith("test ") for text in test["review"])
    assert list(train.columns) == ["review", "sentiment"]
    assert summary["final_fit_splits"] == ["train"]  # never the official test half
    assert summary["evaluation"].startswith("official test half")


def test_stanford_max_rows_caps_both_halves(tmp_path):
    tarball = tmp_path / "aclImdb_v1.tar.gz"
    texts = [f"review number {i}" for i in range(10)]
    make_tarball(tarball, {"pos": texts, "neg": [f"bad {t}" for t in texts]})
    summary = ingest(IngestParams(source=str(tarball), max_rows=20), tmp_path / "out")
    assert (summary["train_rows"], summary["test_rows"]) == (10, 10)


def test_http_source_is_downloaded_once(http_root, imdb_sample, tmp_path):
    root, base_url = http_root
    imdb_sample.to_csv(root / "reviews.csv", index=False)
    params = IngestParams(source=f"{base_url}/reviews.csv", test_size=0.2)
    summary = ingest(params, tmp_path / "out")
    assert summary["train_rows"] + summary["test_rows"] == len(imdb_sample)
    (root / "reviews.csv").unlink()  # the cached copy serves the second run
    assert ingest(params, tmp_path / "out")["rows_read"] == len(imdb_sample)


def test_the_source_is_the_param_alone(imdb_csv, tmp_path, monkeypatch):
    # The old environment override is gone: DVC could not see it.
    monkeypatch.setenv("SENTIMENT_DATA_SOURCE", "/nowhere.csv")
    summary = ingest(IngestParams(source=str(imdb_csv), max_rows=100), tmp_path)
    assert summary["source"] == str(imdb_csv)
    monkeypatch.setenv("SENTIMENT_DATA_SOURCE", str(imdb_csv))
    with pytest.raises(UserError, match="does not exist"):
        ingest(IngestParams(source="/nowhere.csv", max_rows=100), tmp_path)


def bad_csv(directory: Path, text: str) -> str:
    path = directory / "bad.csv"
    path.write_bytes(text.encode("latin-1") if "é" in text else text.encode())
    return str(path)


@pytest.mark.parametrize(
    ("make_source", "fragment"),
    [
        (lambda d, url: str(d / "missing.csv"), "does not exist"),
        (lambda d, url: f"{url}/nope.csv", "could not download"),
        (lambda d, url: "http://127.0.0.1:9/reviews.csv", "could not download"),
        (lambda d, url: bad_csv(d, "text,label\na,positive\n"), "lacks column(s) review"),
        (lambda d, url: bad_csv(d, "review,sentiment\na,positive\nb,meh\n"), "'meh'"),
        (lambda d, url: bad_csv(d, 'review,sentiment\n"",positive\nb,negative\n'), "empty review"),
        (lambda d, url: bad_csv(d, "review,sentiment\ncafé,positive\n"), "not UTF-8"),
        (lambda d, url: bad_csv(d, ""), "not a readable CSV"),
    ],
)
def test_cli_reports_one_line_and_fails(make_source, fragment, http_root, tmp_path):
    _, base_url = http_root
    result = run_ingest(tmp_path, make_source(tmp_path, base_url), download_timeout_seconds=5)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1, result.stderr
    assert fragment in error_lines[0]


def test_cli_duplicates_error_when_not_deduplicating(tmp_path):
    source = bad_csv(tmp_path, "review,sentiment\na,positive\na,positive\nb,negative\n")
    result = run_ingest(tmp_path, source, deduplicate=False)
    assert result.returncode == 2
    assert "ingest.deduplicate: true" in result.stderr


def test_cli_rejects_bad_params(tmp_path, imdb_csv):
    result = run_ingest(tmp_path, str(imdb_csv), test_size=1.5)
    assert result.returncode == 2
    assert "ingest.test_size must be between 0 and 1" in result.stderr
    write_params(tmp_path, source=str(imdb_csv), colour="blue")
    result = subprocess.run(
        [sys.executable, "-m", "training.ingest"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "unknown keys in ingest: colour" in result.stderr
