"""The HTTP API: routes, JSON errors, and the request metrics around every request."""

from __future__ import annotations

import functools
import json
import logging
import re
import time
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, g, jsonify, render_template, request
from pydantic import BaseModel
from werkzeug.exceptions import HTTPException

from model_server import contract
from model_server.bodies import CSV, JSON, late_body, read_text_body
from model_server.config import Settings
from model_server.deadlines import BodyDeadlines
from model_server.errors import ApiError, ErrorBody
from model_server.invocations import check_csv_width, invocation_texts
from model_server.memory import release_after
from model_server.metrics import OTHER, ServerMetrics
from model_server.openapi import openapi_document
from model_server.schemas import (
    Health,
    InvocationsResponse,
    Metadata,
    ModelRef,
    PredictResponse,
    Readiness,
    ReviewPrediction,
    check_batch_size,
    check_text_sizes,
    parse_predict_request,
)
from model_server.state import ModelSlot, ServingModel
from model_server.v2 import (
    V2Error,
    as_v2,
    inference_response,
    model_metadata,
    parse_inference,
)

log = logging.getLogger(__name__)
_VARIABLE = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
SERVER_NAME = "sentiment-server"


@functools.cache
def _template(rule: str) -> str:
    """``/v2/models/<name>/infer`` as ``/v2/models/{name}/infer``."""
    return _VARIABLE.sub(r"{\1}", rule)


def json_response(body: BaseModel, status: int = 200) -> Response:
    return Response(body.model_dump_json(), status=status, mimetype="application/json")


class Api:
    """The routes, bound to one app's settings, metrics and model slot."""

    def __init__(
        self,
        app: Flask,
        settings: Settings,
        metrics: ServerMetrics,
        slot: ModelSlot,
        deadlines: BodyDeadlines,
    ):
        self.settings = settings
        self.deadlines = deadlines
        self.metrics = metrics
        self.slot = slot
        self.openapi = openapi_document(settings.max_batch_size, settings.max_body_bytes)
        app.add_url_rule(contract.LIVENESS_PATH, view_func=self.healthz, methods=["GET"])
        app.add_url_rule(contract.READINESS_PATH, view_func=self.readyz, methods=["GET"])
        app.add_url_rule("/predict", view_func=self.predict, methods=["POST"])
        app.add_url_rule("/invocations", view_func=self.invocations, methods=["POST"])
        app.add_url_rule("/metadata", view_func=self.metadata, methods=["GET"])
        app.add_url_rule(contract.METRICS_PATH, view_func=self.prometheus, methods=["GET"])
        app.add_url_rule("/openapi.json", view_func=self.openapi_json, methods=["GET"])
        app.add_url_rule("/", view_func=self.index, methods=["GET"])
        app.add_url_rule("/", view_func=self.index_form, methods=["POST"])
        app.add_url_rule("/v2", view_func=self.v2_server, methods=["GET"])
        app.add_url_rule("/v2/health/live", view_func=self.v2_live, methods=["GET"])
        app.add_url_rule("/v2/health/ready", view_func=self.v2_ready, methods=["GET"])
        app.add_url_rule("/v2/models/<name>", view_func=self.v2_model, methods=["GET"])
        app.add_url_rule("/v2/models/<name>/ready", view_func=self.v2_model_ready, methods=["GET"])
        app.add_url_rule("/v2/models/<name>/infer", view_func=self.v2_infer, methods=["POST"])
        self.static_routes = frozenset(
            rule.rule for rule in app.url_map.iter_rules() if not rule.arguments
        )
        app.before_request(self.start_timer)
        app.after_request(self.observe)
        app.register_error_handler(ApiError, self.api_error)
        app.register_error_handler(V2Error, self.v2_error)
        app.register_error_handler(HTTPException, self.http_error)
        app.register_error_handler(Exception, self.unexpected_error)

    # -- routes ---------------------------------------------------------------

    def healthz(self) -> Response:
        return json_response(Health())

    def readyz(self) -> Response:
        # The model is in every worker from its first instant (loaded before the fork).
        identity = self.slot.model.identity
        return json_response(
            Readiness(status="ready", model_name=identity.name, model_version=identity.version)
        )

    def predict(self) -> Response:
        body = read_text_body(request, (JSON,), self.settings.max_body_bytes, self.deadlines)
        texts = parse_predict_request(body, self.settings.max_batch_size)
        check_text_sizes(texts, self.settings.max_review_chars)
        serving = self._serving()
        predictions = serving.batcher.predict(texts)
        identity = serving.model.identity
        self.metrics.count_predictions(
            (p.label for p in predictions), identity.name, identity.version
        )
        return json_response(
            PredictResponse(
                model=ModelRef(name=identity.name, version=identity.version),
                predictions=[
                    ReviewPrediction(label=p.label, probability_positive=p.probability_positive)
                    for p in predictions
                ],
            )
        )

    def invocations(self) -> Response:
        body = read_text_body(request, (JSON, CSV), self.settings.max_body_bytes, self.deadlines)
        serving = self._serving()
        model = serving.model
        if request.mimetype == CSV:
            check_csv_width(body, self.settings.max_csv_columns)
        texts = invocation_texts(body, request.mimetype, model.text_column, model.input_schema)
        check_batch_size(len(texts), self.settings.max_batch_size)
        check_text_sizes(texts, self.settings.max_review_chars, loc=model.text_column)
        predictions = serving.batcher.predict(texts)
        labels = [p.label for p in predictions]
        self.metrics.count_predictions(labels, model.identity.name, model.identity.version)
        return json_response(InvocationsResponse(predictions=labels))

    def metadata(self) -> Response:
        model = self._serving().model
        identity = model.identity
        return json_response(
            Metadata(
                model_name=identity.name,
                model_version=identity.version,
                run_id=identity.run_id,
                model_uri=identity.source_uri,
                metrics=model.run_metrics,
            )
        )

    def prometheus(self) -> Response:
        payload, content_type = self.metrics.exposition(request.headers.get("Accept"))
        return Response(payload, content_type=content_type)

    def openapi_json(self) -> Response:
        return jsonify(self.openapi)

    def index(self) -> str:
        return render_template("index.html", identity=self.slot.model.identity)

    def index_form(self) -> str:
        """The page's form, answered without JavaScript: the page again, with the answer."""
        limit = self.settings.max_body_bytes
        if (request.content_length or 0) > limit:
            raise ApiError(413, f"the body is over the limit of {limit} bytes")
        with self.deadlines.guard(request.environ) as expired:
            try:
                text = request.form.get("text", "")
            except Exception:  # a form whose body cannot be read (framing, cut upload, late)
                raise (
                    late_body(self.deadlines)
                    if expired()
                    else ApiError(400, "the form cannot be read")
                ) from None
        context: dict[str, Any] = {"identity": self.slot.model.identity, "text": text}
        if not text.strip():
            context["problem"] = "Type a review first: the box is empty."
        elif len(text) > self.settings.max_review_chars:
            context["problem"] = (
                f"That review is too long: at most {self.settings.max_review_chars:,} characters."
            )
        else:
            prediction = self._serving().batcher.predict([text])[0]
            identity = self.slot.model.identity
            self.metrics.count_predictions([prediction.label], identity.name, identity.version)
            p = prediction.probability_positive
            context["label"] = prediction.label
            context["confidence"] = round(100 * (p if prediction.label == "positive" else 1 - p))
        return render_template("index.html", **context)

    # -- Open Inference Protocol (v2) ------------------------------------------

    def v2_server(self) -> Response:
        return jsonify(name=SERVER_NAME, version=self.openapi["info"]["version"], extensions=[])

    def v2_live(self) -> Response:
        return jsonify(live=True)

    def v2_ready(self) -> Response:
        return jsonify(ready=True)  # the model is in every worker before it listens

    def v2_model(self, name: str) -> Response:
        model = self._v2_model(name)
        identity = model.identity
        return jsonify(model_metadata(identity.name, identity.version, model.text_column))

    def v2_model_ready(self, name: str) -> Response:
        self._v2_model(name)
        return jsonify(name=name, ready=True)

    def v2_infer(self, name: str) -> Response:
        model = self._v2_model(name)
        try:
            body = read_text_body(request, (JSON,), self.settings.max_body_bytes, self.deadlines)
        except ApiError as error:
            raise as_v2(error) from None
        inference, texts = parse_inference(
            body, self.settings.max_batch_size, self.settings.max_review_chars
        )
        predictions = self._serving().batcher.predict(texts)
        identity = model.identity
        labels = [p.label for p in predictions]
        self.metrics.count_predictions(labels, identity.name, identity.version)
        payload = inference_response(
            inference,
            identity.name,
            identity.version,
            [str(label) for label in labels],
            [p.probability_positive for p in predictions],
        )
        return Response(json.dumps(payload), mimetype="application/json")

    def _v2_model(self, name: str) -> Any:
        model = self.slot.model
        if name != model.identity.name:
            raise V2Error(404, f"model {name!r} is not served here; this server serves "
                          f"{model.identity.name!r}")  # fmt: skip
        return model

    def _serving(self) -> ServingModel:
        return self.slot.serving

    # -- metrics and errors ---------------------------------------------------

    def start_timer(self) -> None:
        g.started = time.perf_counter()

    def observe(self, response: Response) -> Response:
        # The route's template, never the raw path: one series per route, whatever the name.
        rule = request.url_rule
        if rule is not None:
            endpoint = _template(rule.rule)
        else:  # not routed: a known path with the wrong method, or unknown
            endpoint = request.path if request.path in self.static_routes else OTHER
        seconds = time.perf_counter() - g.get("started", time.perf_counter())
        self.metrics.observe_request(request.method, endpoint, response.status_code, seconds)
        release_after(request.content_length)
        return response

    def api_error(self, error: ApiError) -> Response:
        body = ErrorBody(
            error=HTTPStatus(error.status).phrase, message=error.message, details=error.details
        )
        response = json_response(body, error.status)
        if error.status == HTTPStatus.SERVICE_UNAVAILABLE:
            response.headers["Retry-After"] = "1"
        if error.status == HTTPStatus.REQUEST_TIMEOUT:
            response.headers["Connection"] = "close"  # the rest of the stream cannot be trusted
        return response

    def v2_error(self, error: V2Error) -> Response:
        return Response(
            json.dumps({"error": error.message}), status=error.status, mimetype="application/json"
        )

    def http_error(self, error: HTTPException) -> Response:
        response = json_response(
            ErrorBody(error=error.name, message=error.description or ""), error.code or 500
        )
        for name, value in error.get_headers():
            if name.lower() != "content-type":  # e.g. Allow on a 405
                response.headers[name] = value
        return response

    def unexpected_error(self, _error: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return json_response(
            ErrorBody(error="Internal Server Error", message="unexpected error"), 500
        )
