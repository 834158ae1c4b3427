"""KServe's model server around the same MLflow pipeline: the peer users would pick instead.

Run by ``server_bench`` with the Python of a venv of its own (``kserve`` 0.21 from
PyPI, with the lock's scikit-learn, skops and mlflow-skinny), never the project's::

    python bench/kserve_peer.py --model_name NAME --model_uri models:/NAME/1 \\
        --http_port 8081 --workers 2 --enable_grpc false

It serves KServe's v1 protocol: ``POST /v1/models/NAME:predict`` with
``{"instances": ["a review", ...]}`` answers ``{"predictions": ["positive", ...]}``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import kserve
import mlflow.sklearn
import pandas as pd


class SentimentModel(kserve.Model):  # type: ignore[misc]
    """The registered Pipeline, scored with its own ``predict_proba`` per request."""

    def __init__(self, name: str, uri: str) -> None:
        super().__init__(name)
        self.uri = uri
        self.pipeline: Any = None
        self.load()

    def load(self) -> bool:
        self.pipeline = mlflow.sklearn.load_model(self.uri)
        self.ready = True
        return True

    def predict(self, payload: dict[str, Any], headers: Any = None) -> dict[str, Any]:  # noqa: ARG002
        if isinstance(payload, bytes | str):  # a body sent without a JSON content type
            payload = json.loads(payload)
        texts = [str(text) for text in payload["instances"]]
        proba = self.pipeline.predict_proba(pd.DataFrame({"review": texts}))
        classes = list(self.pipeline.classes_)
        return {"predictions": [classes[i] for i in proba.argmax(axis=1)]}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    # kserve's own parser already has --model_name.
    parser.add_argument("--model_uri", required=True)
    args, _ = parser.parse_known_args()
    kserve.ModelServer().start([SentimentModel(args.model_name, args.model_uri)])
