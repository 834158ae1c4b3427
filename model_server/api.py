"""The HTTP API: routes, JSON errors, and the request metrics around every request."""

from __future__ import annotations

import logging
import time
from http import HTTPStatus

from flask import Flask, Response, g, jsonify, render_template, request
from pydantic import BaseModel
from werkzeug.exceptions import HTTPException

from model_server.bodies import CSV, JSON, read_text_body
from model_server.config import Settings
from model_server.errors import ApiError, ErrorBody
from model_server.invocations import invocation_texts
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
    parse_predict_request,
)
from model_server.state import ModelSlot, ServingModel

log = logging.getLogger(__name__)


def json_response(body: BaseModel, status: int = 200) -> Response:
    return Response(body.model_dump_json(), status=status, mimetype="application/json")


class Api:
    """The routes, bound to one app's settings, metrics and model slot."""

    def __init__(self, app: Flask, settings: Settings, metrics: ServerMetrics, slot: ModelSlot):
        self.settings = settings
        self.metrics = metrics
        self.slot = slot
        self.openapi = openapi_document(settings.max_batch_size, settings.max_body_bytes)
        app.add_url_rule("/healthz", view_func=self.healthz, methods=["GET"])
        app.add_url_rule("/readyz", view_func=self.readyz, methods=["GET"])
        app.add_url_rule("/predict", view_func=self.predict, methods=["POST"])
        app.add_url_rule("/invocations", view_func=self.invocations, methods=["POST"])
        app.add_url_rule("/metadata", view_func=self.metadata, methods=["GET"])
        app.add_url_rule("/metrics", view_func=self.prometheus, methods=["GET"])
        app.add_url_rule("/openapi.json", view_func=self.openapi_json, methods=["GET"])
        app.add_url_rule("/", view_func=self.index, methods=["GET"])
        self.routes = frozenset(rule.rule for rule in app.url_map.iter_rules())
        app.before_request(self.start_timer)
        app.after_request(self.observe)
        app.register_error_handler(ApiError, self.api_error)
        app.register_error_handler(HTTPException, self.http_error)
        app.register_error_handler(Exception, self.unexpected_error)

    # -- routes ---------------------------------------------------------------

    def healthz(self) -> Response:
        return json_response(Health())

    def readyz(self) -> Response:
        serving = self.slot.serving
        if serving is None:
            return json_response(Readiness(status="loading"), 503)
        identity = serving.model.identity
        return json_response(
            Readiness(status="ready", model_name=identity.name, model_version=identity.version)
        )

    def predict(self) -> Response:
        body = read_text_body(request, (JSON,), self.settings.max_body_bytes)
        texts = parse_predict_request(body, self.settings.max_batch_size)
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
        body = read_text_body(request, (JSON, CSV), self.settings.max_body_bytes)
        serving = self._serving()
        model = serving.model
        texts = invocation_texts(body, request.mimetype, model.text_column, model.input_schema)
        check_batch_size(len(texts), self.settings.max_batch_size)
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
        serving = self.slot.serving
        return render_template("index.html", identity=serving.model.identity if serving else None)

    def _serving(self) -> ServingModel:
        serving = self.slot.serving
        if serving is None:
            raise ApiError(503, "the model is still loading; retry shortly")
        return serving

    # -- metrics and errors ---------------------------------------------------

    def start_timer(self) -> None:
        g.started = time.perf_counter()

    def observe(self, response: Response) -> Response:
        endpoint = request.path if request.path in self.routes else OTHER
        seconds = time.perf_counter() - g.get("started", time.perf_counter())
        self.metrics.observe_request(request.method, endpoint, response.status_code, seconds)
        return response

    def api_error(self, error: ApiError) -> Response:
        body = ErrorBody(
            error=HTTPStatus(error.status).phrase, message=error.message, details=error.details
        )
        response = json_response(body, error.status)
        if error.status == HTTPStatus.SERVICE_UNAVAILABLE:
            response.headers["Retry-After"] = "1"
        return response

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
