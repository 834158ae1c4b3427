"""Resolve an MLflow model URI, download the model, check it and warm it up.

A ``models:/NAME/STAGE``, ``models:/NAME/latest`` or ``models:/NAME@ALIAS`` URI is
first resolved to its concrete version, and that pinned version is what gets
downloaded and reported, so the name and version in metrics and responses are
always the ones actually served.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any, Final, Literal, NamedTuple, cast

import numpy as np
import pandas as pd

from model_server.compiled import TOLERANCE, LinearTextScorer, NotCompilableError, compile_pipeline
from model_server.compiled import prove as prove_scorer
from model_server.config import Settings
from model_server.vocabularies import restore_vocabularies

POSITIVE: Final = "positive"
NEGATIVE: Final = "negative"
UNREGISTERED = "unregistered"
UNVERSIONED = "unversioned"
WARM_UP_TEXT = "A warm-up review: the acting was fine and the plot was thin."

Label = Literal["negative", "positive"]

log = logging.getLogger(__name__)


class ModelLoadError(RuntimeError):
    """The model cannot be served; the message says why in one line."""


class Prediction(NamedTuple):
    """The model's answer for one text."""

    label: Label
    probability_positive: float


@dataclass(frozen=True)
class ModelIdentity:
    """Which model is served: what metrics, responses and ``/metadata`` report."""

    name: str
    version: str
    run_id: str
    source_uri: str


@dataclass(frozen=True)
class LoadedModel:
    """A scikit-learn Pipeline from a DataFrame of review texts to sentiment classes."""

    pipeline: Any
    identity: ModelIdentity
    text_column: str
    input_schema: Any
    run_metrics: dict[str, float] = field(default_factory=dict)
    example_texts: tuple[str, ...] = ()
    scorer: LinearTextScorer | None = None

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Label and probability of ``positive`` for each text, in order."""
        if self.scorer is not None:
            return [
                Prediction(POSITIVE if p > 1.0 - p else NEGATIVE, p)
                for p in self.scorer.positive_proba(texts)
            ]
        return self.predict_generic(texts)

    def without_redundant_pipeline(self) -> LoadedModel:
        """This model without its Pipeline when a proven scorer makes it redundant.

        The scorer keeps only the arrays it needs (the weights folded into one vector);
        the Pipeline's own (the classifier's weights, the NB ratios: 2 x 32 MB for 2**22
        columns) would stay in memory unused.
        """
        return self if self.scorer is None else replace(self, pipeline=None)

    def predict_generic(self, texts: Sequence[str]) -> list[Prediction]:
        """``predict`` through the Pipeline itself."""
        if self.pipeline is None:
            raise RuntimeError("the Pipeline was dropped: the compiled scorer serves")
        proba = np.asarray(self.pipeline.predict_proba(pd.DataFrame({self.text_column: texts})))
        classes = list(self.pipeline.classes_)
        positive = proba[:, classes.index(POSITIVE)]
        labels = np.asarray(classes)[proba.argmax(axis=1)]
        return [
            Prediction(cast(Label, str(label)), float(p))
            for label, p in zip(labels, positive, strict=True)
        ]


@dataclass(frozen=True)
class Fetched:
    """A model downloaded from the registry and what MLflow records of it: everything
    but the Pipeline itself, so nothing here needs scikit-learn."""

    local_path: str
    identity: ModelIdentity
    text_column: str
    input_schema: Any
    run_metrics: dict[str, float] = field(default_factory=dict)
    example_texts: tuple[str, ...] = ()

    def loaded(self, pipeline: Any, scorer: LinearTextScorer | None = None) -> LoadedModel:
        """The model served by ``pipeline`` or ``scorer``."""
        return LoadedModel(
            pipeline=pipeline,
            identity=self.identity,
            text_column=self.text_column,
            input_schema=self.input_schema,
            run_metrics=self.run_metrics,
            example_texts=self.example_texts,
            scorer=scorer,
        )

    def proof_texts(self) -> list[str]:
        """The texts a compiled scorer must score as its pipeline does."""
        return proof_texts(self.example_texts)


def fetch(settings: Settings, into: str) -> Fetched:
    """Resolve ``settings.model_uri``, download the model into ``into`` and read its
    MLflow metadata.

    Raises ``ModelLoadError`` whatever goes wrong: bad URI, registry unreachable,
    missing version, wrong flavor, no single text input.
    """
    try:
        return _fetch(settings, into)
    except ModelLoadError:
        raise
    except Exception as error:  # MLflow and requests raise many kinds
        raise ModelLoadError(one_line(error)) from error


def load_model(fetched: Fetched) -> LoadedModel:
    """Load the fetched Pipeline in this process, check it, compile it if it can be
    compiled, and warm it up.

    Raises ``ModelLoadError`` for a model that cannot be loaded or cannot predict
    probabilities.
    """
    try:
        model = with_compiled_scorer(fetched.loaded(read_pipeline(fetched.local_path)))
    except ModelLoadError:
        raise
    except Exception as error:  # skops and sklearn raise many kinds
        raise ModelLoadError(one_line(error)) from error
    return warmed_up(model).without_redundant_pipeline()


def warmed_up(model: LoadedModel) -> LoadedModel:
    """``model`` once it has answered a first review with a probability."""
    try:
        warm_up = model.predict([WARM_UP_TEXT])
    except Exception as error:
        raise ModelLoadError(f"warm-up prediction failed: {one_line(error)}") from error
    if len(warm_up) != 1 or not 0.0 <= warm_up[0].probability_positive <= 1.0:
        raise ModelLoadError(f"warm-up prediction is not a probability: {warm_up!r}")
    return model


def read_pipeline(local_path: str) -> Any:
    """The downloaded scikit-learn Pipeline, checked to predict the two sentiments."""
    import mlflow.sklearn

    pipeline = mlflow.sklearn.load_model(local_path)
    restore_vocabularies(pipeline)
    _check_classifier(pipeline)
    return pipeline


def import_registry_client() -> None:
    """Import MLflow's client and sklearn flavor (about 0.8 s of start-up); a missing
    library is left for the loader to report."""
    with contextlib.suppress(ImportError):
        import mlflow.sklearn  # noqa: F401


def import_model_libraries() -> None:
    """Import what loading a model saved by MLflow's sklearn flavor needs besides MLflow:
    scikit-learn and skops (about 1.5 s, most of it skops listing scikit-learn's types).
    Run while the registry is asked, the two overlap instead of adding up; a missing
    library is left for the loader to report."""
    with contextlib.suppress(ImportError):
        import sklearn.pipeline  # noqa: F401
        import skops.io  # noqa: F401


def _fetch(settings: Settings, into: str) -> Fetched:
    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts
    from mlflow.models import Model

    client = MlflowClient()
    pinned_uri, name, version, run_id = _resolve(settings.model_uri, client)
    local_path = download_artifacts(artifact_uri=pinned_uri, dst_path=into)
    metadata: Any = Model.load(local_path)
    if "sklearn" not in metadata.flavors:
        flavors = ", ".join(sorted(metadata.flavors)) or "none"
        raise ModelLoadError(f"model flavor is not sklearn (flavors: {flavors})")
    schema = metadata.get_input_schema()
    identity = ModelIdentity(
        name=settings.model_name or name,
        version=settings.model_version or version,
        run_id=run_id or metadata.run_id or "",
        source_uri=pinned_uri,
    )
    return Fetched(
        local_path=local_path,
        identity=identity,
        text_column=_text_column(schema),
        input_schema=schema,
        run_metrics=_run_metrics(client, identity.run_id),
        example_texts=_example_texts(metadata, local_path),
    )


def with_compiled_scorer(model: LoadedModel) -> LoadedModel:
    """``model`` with a proven compiled scorer, or unchanged (generic path) saying why."""
    texts = proof_texts(model.example_texts)
    try:
        scorer = compile_pipeline(model.pipeline, model.text_column)
        difference = prove_scorer(scorer, model.pipeline, model.text_column, texts)
    except NotCompilableError as error:
        log.info("scoring through the generic Pipeline path: %s", error)
        return model
    except Exception as error:  # a scorer that cannot even run is simply not used
        log.warning("scoring through the generic Pipeline path: %s", one_line(error))
        return model
    if not difference <= TOLERANCE:
        log.warning(
            "scoring through the generic Pipeline path: the compiled scorer differs by %.3g "
            "(over %g) on %d reviews", difference, TOLERANCE, len(texts),
        )  # fmt: skip
        return model
    log.info(
        "scoring through the compiled linear path (largest difference %.2g on %d reviews)",
        difference, len(texts),
    )  # fmt: skip
    return replace(model, scorer=scorer)


def proof_texts(example_texts: Sequence[str]) -> list[str]:
    """The texts a compiled scorer must score as its pipeline does: the model's logged
    input example and the bundled reviews."""
    return [*example_texts, *proof_reviews()]


def proof_reviews() -> list[str]:
    """The bundled reviews every compiled scorer must score as its pipeline does."""
    text = resources.files("model_server").joinpath("proof_reviews.json").read_text("utf-8")
    return [str(review) for review in json.loads(text)["reviews"]]


def _example_texts(metadata: Any, local_path: str) -> tuple[str, ...]:
    """The texts of the logged input example (none when there is none)."""
    try:
        example = metadata.load_input_example(local_path)
    except Exception as error:  # an unreadable example only shortens the proof
        log.warning("cannot read the input example: %s", one_line(error))
        return ()
    if isinstance(example, pd.DataFrame) and example.shape[1] >= 1:
        values = example.iloc[:, 0]
    elif isinstance(example, dict) and len(example) >= 1:
        values = next(iter(example.values()))
    else:
        return ()
    return tuple(str(value) for value in np.ravel(np.asarray(values, dtype=object)))


def _resolve(uri: str, client: Any) -> tuple[str, str, str, str | None]:
    """Pinned URI, registered name, version and run id of ``uri``."""
    from mlflow.store.artifact.utils.models import get_model_name_and_version
    from mlflow.utils.uri import is_models_uri

    if not is_models_uri(uri):
        return uri, UNREGISTERED, UNVERSIONED, None
    resolved = get_model_name_and_version(client, uri)  # type: ignore[no-untyped-call]
    if len(resolved) != 2:  # models:/<model id>: a logged model outside the registry
        return uri, UNREGISTERED, UNVERSIONED, None
    name, version = resolved
    registered = client.get_model_version(name, version)
    return f"models:/{name}/{version}", name, str(version), registered.run_id


def _check_classifier(pipeline: Any) -> None:
    if not callable(getattr(pipeline, "predict_proba", None)):
        raise ModelLoadError(f"model {type(pipeline).__name__} has no predict_proba")
    classes = sorted(str(c) for c in getattr(pipeline, "classes_", []))
    if classes != [NEGATIVE, POSITIVE]:
        raise ModelLoadError(f"model classes are {classes}, expected ['negative', 'positive']")


def _text_column(schema: Any) -> str:
    names = schema.input_names() if schema is not None else []
    if len(names) != 1:
        raise ModelLoadError(f"model signature must have exactly one text input, has {names}")
    return str(names[0])


def _run_metrics(client: Any, run_id: str) -> dict[str, float]:
    """The run's logged metrics; a run that cannot be read leaves them empty, not fatal."""
    if not run_id:
        return {}
    try:
        return {key: float(value) for key, value in client.get_run(run_id).data.metrics.items()}
    except Exception as error:  # the model is servable without them
        log.warning("cannot read metrics of run %s: %s", run_id, one_line(error))
        return {}


def one_line(error: BaseException, limit: int = 400) -> str:
    """The error as a single log-friendly line."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
