"""The PromQL the operator generates: scoped to one model, with sensible rate windows."""

from __future__ import annotations

import re

import pytest
from sentiment_operator.render import Owner, queries
from sentiment_operator.spec import API_VERSION, KIND

from tests.operator.rendering import children_of, every_option, generated_queries

# A series selector: a metric name followed by its label matchers.
SELECTOR = re.compile(r"\b([a-z_]+)\{([^}]*)\}")


@pytest.mark.parametrize(
    ("interval", "window"),
    [("30s", "2m"), ("15s", "1m"), ("1s", "4s"), ("1m30s", "6m"), ("500ms", "2s"), ("0", "2m")],
)
def test_rate_window_spans_four_scrapes(interval: str, window: str) -> None:
    assert queries.rate_window(interval) == window


@pytest.mark.parametrize(
    ("duration", "milliseconds"),
    [("0", 0), ("250ms", 250), ("1h30m", 5_400_000), ("1w", 604_800_000), ("1y", 31_536_000_000)],
)
def test_duration_ms(duration: str, milliseconds: int) -> None:
    assert queries.duration_ms(duration) == milliseconds


@pytest.mark.parametrize("duration", ["", "5", "1 m", "m", "1m foo", "1.5m"])
def test_duration_ms_refuses_what_is_not_a_duration(duration: str) -> None:
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        queries.duration_ms(duration)


def test_format_duration_picks_the_largest_exact_unit() -> None:
    assert [queries.format_duration(ms) for ms in (7_200_000, 90_000, 4_000, 1_500)] == [
        "2h",
        "90s",
        "4s",
        "1500ms",
    ]


def test_default_trigger_query_is_the_per_second_prediction_rate() -> None:
    scope = queries.Scope("reviews", "imdb")
    assert queries.prediction_rate(scope, "1m") == (
        'sum(rate(sentiment_predictions_total{namespace="reviews",service="imdb"}[1m]))'
    )


def selectors_of(owner: Owner) -> list[tuple[str, str, str]]:
    """(query, metric, matchers) of every series selector of every generated query."""
    found = []
    for query in generated_queries(children_of(every_option(), owner)):
        found += [(query, metric, matchers) for metric, matchers in SELECTOR.findall(query)]
    return found


@pytest.mark.parametrize(("namespace", "name"), [("reviews", "imdb"), ("staging", "imdb-v2")])
def test_every_series_selector_is_scoped_to_one_model(namespace: str, name: str) -> None:
    owner = Owner(API_VERSION, KIND, name, namespace, "uid")
    selectors = selectors_of(owner)
    metrics = {metric for _, metric, _ in selectors}
    assert {"sentiment_requests_total", "sentiment_predictions_total"} <= metrics
    for query, metric, matchers in selectors:
        labels = set(matchers.split(","))
        assert f'namespace="{namespace}"' in labels, query
        own = "deployment" if metric in queries.CLUSTER_METRICS else "service"
        assert f'{own}="{name}"' in labels, query


def test_two_models_in_one_namespace_never_share_a_query() -> None:
    first = generated_queries(children_of(every_option(), Owner(API_VERSION, KIND, "a", "ns", "")))
    second = generated_queries(children_of(every_option(), Owner(API_VERSION, KIND, "b", "ns", "")))
    shared = set(first) & set(second)
    # Only the constant activation line is the same for both.
    assert shared == {"vector(1)"}


def test_route_label_is_the_renamed_server_label() -> None:
    scope = queries.Scope("reviews", "imdb")
    query = queries.request_rate_by_pod(scope, "1m")
    assert 'exported_endpoint=~"/predict|/invocations"' in query
    assert "endpoint=" not in query.replace("exported_endpoint=", "")
