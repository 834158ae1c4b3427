"""Reading YAML streams: only mappings, no aliases, bounded in size."""

from __future__ import annotations

import pytest
from sentiment_operator.yamlio import MAX_CHARS, YamlError, dump_all, load_all


def test_documents_round_trip_and_empty_ones_are_skipped() -> None:
    docs = [{"kind": "A", "b": [1, 2]}, {"kind": "C"}]
    assert load_all(dump_all(docs) + "---\n") == docs


def test_anchors_without_aliases_are_plain_values() -> None:
    assert load_all("a: &x 1\nb: 2\n") == [{"a": 1, "b": 2}]


@pytest.mark.parametrize("text", ["a: &x 1\nb: *x\n", "a: &x {c: 1}\nb:\n  <<: *x\n"])
def test_aliases_are_refused(text: str) -> None:
    with pytest.raises(YamlError, match=r"^YAML aliases \(\*name\) are not supported \(line"):
        load_all(text)


def test_a_stream_over_the_limit_is_refused_unparsed() -> None:
    assert load_all("#" * MAX_CHARS) == []
    with pytest.raises(YamlError, match=f"^longer than {MAX_CHARS} characters$"):
        load_all("[" * (MAX_CHARS + 1))


def test_python_tags_are_refused() -> None:
    with pytest.raises(YamlError, match=r"^invalid YAML: could not determine a constructor"):
        load_all("a: !!python/object/apply:os.system [echo]\n")
