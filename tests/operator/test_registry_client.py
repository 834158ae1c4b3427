"""``resolve_version`` over MLflow's REST API, against real servers on loopback.

The operator asks the registry without MLflow's client. These tests hold it to the
answers and failure classes MLflow's own client gives for the same questions, with real
``mlflow server`` processes (plain, basic-auth, HTTPS with client certificates), a socket
that never answers, and an HTTP server that is not MLflow (a proxy, a wrong URL).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from local_cluster.pki import Pki
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.store.model_registry.rest_store import RestStore
from mlflow.utils.rest_utils import MlflowHostCreds
from sentiment_operator import mlflow_rest
from sentiment_operator.registry import (
    ModelNotFound,
    RegistryAccessDenied,
    RegistryError,
    RegistryUnavailable,
    resolve_version,
)
from urllib3.exceptions import InsecureRequestWarning

from tests.support.mlflow_server import (
    MlflowServer,
    ServerTls,
    basic_auth_mlflow_server,
    mlflow_server,
)
from tests.support.processes import free_port, loopback_http_server, reachable_host

MODEL = "rest-client-reviews"
SOURCE = "s3://models/reviews/1"  # never downloaded: only the registry is asked
TIMEOUT_SECONDS = 2.0
PASSWORD = "Adm1n-pass-only-for-this-test"
ALIAS_PATH = "/api/2.0/mlflow/registered-models/alias"
LATEST_PATH = "/api/2.0/mlflow/registered-models/get-latest-versions"


@pytest.fixture(autouse=True)
def short_timeout() -> Iterator[None]:
    mlflow_rest.configure(timeout_seconds=TIMEOUT_SECONDS)
    yield
    mlflow_rest.configure(timeout_seconds=mlflow_rest.DEFAULT_TIMEOUT_SECONDS)


def register(client: MlflowClient, name: str) -> None:
    """Versions 1 to 3 of ``name``: 3 and 1 in Production, 2 in Staging and @champion."""
    client.create_registered_model(name)
    for _ in range(3):
        client.create_model_version(name, source=SOURCE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # stages are deprecated in MLflow 3
        # Promoted last, version 1 is the newest in the stage but not the highest.
        for version, stage in (("3", "Production"), ("2", "Staging"), ("1", "Production")):
            client.transition_model_version_stage(name, version, stage)
    client.set_registered_model_alias(name, "champion", "2")


@pytest.fixture(scope="module")
def registry(shared_mlflow: MlflowServer) -> str:
    register(MlflowClient(shared_mlflow.url, registry_uri=shared_mlflow.url), MODEL)
    return shared_mlflow.url


def verdict(uri: str, name: str, *, stage: str | None = None, alias: str | None = None) -> str:
    """The version, or the reason of the operator's error."""
    try:
        return resolve_version(uri, name, stage=stage, alias=alias)
    except RegistryError as error:
        return error.reason


def mlflow_verdict(
    uri: str, name: str, *, stage: str | None = None, alias: str | None = None
) -> str:
    """What the operator made of the answer when it asked with MLflow's client (its REST store)."""
    creds = MlflowHostCreds(uri)  # type: ignore[no-untyped-call]
    client: Any = RestStore(lambda: creds)  # type: ignore[no-untyped-call]
    try:
        if alias is not None:
            return str(client.get_model_version_by_alias(name, alias).version)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            versions = client.get_latest_versions(name, stages=[str(stage)])
    except MlflowException as error:
        status = error.get_http_status_code()  # type: ignore[no-untyped-call]
        if status in (401, 403):
            return "RegistryAccessDenied"
        return "ModelNotFound" if status in (400, 404) else "RegistryUnavailable"
    return str(max(int(v.version) for v in versions)) if versions else "ModelNotFound"


@pytest.fixture
def mlflow_tries_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(TIMEOUT_SECONDS)))


@pytest.mark.parametrize(
    ("name", "stage", "alias", "expected"),
    [
        (MODEL, None, "champion", "2"),
        (MODEL, "Production", None, "3"),  # the highest of the two in the stage
        (MODEL, "Staging", None, "2"),
        (MODEL, "production", None, "3"),  # MLflow matches stages case-insensitively
        (MODEL, "Archived", None, "ModelNotFound"),  # nothing in it
        (MODEL, "Gold", None, "ModelNotFound"),  # no such stage
        (MODEL, None, "no-such-alias", "ModelNotFound"),
        ("no-such-model", "Production", None, "ModelNotFound"),
        ("no-such-model", None, "champion", "ModelNotFound"),
        ("odd name/with ?&= #chars", None, "champion", "ModelNotFound"),
    ],
)
def test_the_registry_answers_as_it_answers_mlflows_client(
    registry: str, name: str, stage: str | None, alias: str | None, expected: str
) -> None:
    assert verdict(registry, name, stage=stage, alias=alias) == expected
    assert mlflow_verdict(registry, name, stage=stage, alias=alias) == expected


def test_reconcile_threads_ask_at_once(registry: str) -> None:
    def ask(stage: str) -> str:
        return verdict(registry, MODEL, stage=stage)

    with ThreadPoolExecutor(8) as threads:
        answers = list(threads.map(ask, ["Production", "Staging"] * 16))
    assert answers == ["3", "2"] * 16


def test_a_tracking_uri_with_a_trailing_slash_works(registry: str) -> None:
    assert verdict(f"{registry}/", MODEL, alias="champion") == "2"


def test_a_missing_model_is_named_in_the_message(registry: str) -> None:
    with pytest.raises(ModelNotFound) as raised:
        resolve_version(registry, "no-such-model", stage=None, alias="champion")
    message = str(raised.value)
    assert message.startswith("registered model 'no-such-model' has no alias @champion: ")
    assert "RESOURCE_DOES_NOT_EXIST" in message


def test_an_empty_stage_is_model_not_found(registry: str) -> None:
    with pytest.raises(ModelNotFound, match=f"'{MODEL}' has no version in stage Archived"):
        resolve_version(registry, MODEL, stage="Archived", alias=None)


def test_a_port_nothing_listens_on_is_unavailable_at_once() -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(RegistryUnavailable, match="is unavailable") as raised:
        resolve_version(uri, MODEL, stage="Production", alias=None)
    assert time.monotonic() - started < TIMEOUT_SECONDS
    assert str(raised.value).startswith(f"the registry at {uri} is unavailable: ")


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """A plain TCP socket on loopback that accepts connections and never answers."""
    accepted: list[socket.socket] = []
    stop = threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(0.1)

        def accept() -> None:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    accepted.append(listener.accept()[0])

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{listener.getsockname()[1]}"
        finally:
            stop.set()
            thread.join()
            for connection in accepted:
                connection.close()


def test_a_registry_that_never_answers_is_unavailable_after_the_timeout() -> None:
    mlflow_rest.configure(timeout_seconds=1)
    with silent_server() as uri:
        started = time.monotonic()
        with pytest.raises(RegistryUnavailable, match="no answer within 1 s"):
            resolve_version(uri, MODEL, stage=None, alias="champion")
        waited = time.monotonic() - started
    assert 1 <= waited < 3, waited  # one attempt, no retries


@contextlib.contextmanager
def http_server(answers: dict[str, tuple[int, str]]) -> Iterator[str]:
    """An HTTP server on loopback, not MLflow: ``"METHOD /path?query"`` or
    ``"METHOD /path"`` → (status, body); anything else 404."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            key = f"{self.command} {self.path}"
            fallback = answers.get(f"{self.command} {urlsplit(self.path).path}", (404, ""))
            status, body = answers.get(key, fallback)
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_GET  # noqa: N815 - the name http.server calls

        def log_message(self, *args: object) -> None:
            pass

    with loopback_http_server(Handler) as port:
        yield f"http://127.0.0.1:{port}"


NOT_FOUND = '{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no such model"}'


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, '{"model_version": {"name": "m", "version": "7"}}', "7"),
        (200, "<html>a login page</html>", "RegistryUnavailable"),
        (502, "<html>Bad Gateway</html>", "RegistryUnavailable"),
        (
            503,
            '{"error_code": "TEMPORARILY_UNAVAILABLE", "message": "busy"}',
            "RegistryUnavailable",
        ),
        (500, NOT_FOUND, "RegistryUnavailable"),  # a server error whatever its code says
        (404, "<html>Not Found</html>", "ModelNotFound"),  # a URL that is not MLflow's
        (401, "Unauthorized", "RegistryAccessDenied"),
        (403, '{"error_code": "PERMISSION_DENIED", "message": "no"}', "RegistryAccessDenied"),
        (400, '{"error_code": "INVALID_PARAMETER_VALUE", "message": "bad"}', "ModelNotFound"),
        (409, NOT_FOUND, "ModelNotFound"),  # MLflow believes the code, not the status
        (400, '{"error_code": "UNAUTHENTICATED", "message": "who?"}', "RegistryAccessDenied"),
        (405, "Method Not Allowed", "RegistryUnavailable"),
        (429, '{"error_code": "REQUEST_LIMIT_EXCEEDED"}', "RegistryUnavailable"),
        (418, '{"message": "no code"}', "RegistryUnavailable"),
        (302, "", "RegistryUnavailable"),  # a redirect without a Location
    ],
)
@pytest.mark.usefixtures("mlflow_tries_once")
def test_answers_from_something_else_than_mlflow_are_read_as_mlflows_client_reads_them(
    status: int, body: str, expected: str
) -> None:
    with http_server({f"GET {ALIAS_PATH}": (status, body)}) as uri:
        assert verdict(uri, "m", alias="champion") == expected
        assert mlflow_verdict(uri, "m", alias="champion") == expected


def test_get_latest_versions_falls_back_to_get_as_mlflows_client_does() -> None:
    no_post = '{"error_code": "ENDPOINT_NOT_FOUND", "message": "use GET"}'
    query = "?name=m&stages=Production"
    versions = '{"model_versions": [{"version": "4"}, {"version": "12"}]}'
    answers = {f"POST {LATEST_PATH}": (404, no_post), f"GET {LATEST_PATH}{query}": (200, versions)}
    with http_server(answers) as uri:
        assert verdict(uri, "m", stage="Production") == "12"  # highest as a number
        assert mlflow_verdict(uri, "m", stage="Production") == "12"


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A basic-auth MLflow server whose admin can read :data:`MODEL`."""
    root = tmp_path_factory.mktemp("basic-auth")
    with basic_auth_mlflow_server(root, admin_password=PASSWORD) as server:
        with pytest.MonkeyPatch.context() as env:  # how the test's own client logs in
            env.setenv("MLFLOW_TRACKING_USERNAME", "admin")
            env.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
            register(MlflowClient(server.url, registry_uri=server.url), MODEL)
        yield server.url


def login(password: str) -> dict[str, str]:
    return {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": password}


def test_the_right_password_resolves(auth_registry: str) -> None:
    credentials = login(PASSWORD)
    version = resolve_version(
        auth_registry, MODEL, stage=None, alias="champion", credentials=credentials
    )
    assert version == "2"
    assert (
        resolve_version(
            auth_registry, MODEL, stage="Production", alias=None, credentials=credentials
        )
        == "3"
    )


def full_text(error: BaseException) -> str:
    """Everything a log of ``error`` could show: message, repr and traceback."""
    return "".join([str(error), repr(error), *traceback.format_exception(error)])


@pytest.mark.parametrize(
    "credentials",
    [
        login("wrong-" + PASSWORD),
        login(""),
        {"MLFLOW_TRACKING_USERNAME": "nobody", "MLFLOW_TRACKING_PASSWORD": PASSWORD},
        {"MLFLOW_TRACKING_TOKEN": PASSWORD},  # a bearer token is not a basic-auth login
        {},
    ],
    ids=["wrong-password", "empty-password", "unknown-user", "token", "none"],
)
def test_wrong_or_missing_credentials_are_access_denied_without_being_shown(
    auth_registry: str, credentials: dict[str, str]
) -> None:
    with pytest.raises(RegistryAccessDenied) as raised:
        resolve_version(auth_registry, MODEL, stage=None, alias="champion", credentials=credentials)
    assert str(raised.value) == (
        f"the registry at {auth_registry} denied access (HTTP 401): check the credentials"
    )
    assert PASSWORD not in full_text(raised.value)


def test_credentials_never_reach_the_messages_of_other_failures() -> None:
    credentials = login(PASSWORD)
    nobody = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(RegistryUnavailable) as raised:
        resolve_version(nobody, MODEL, stage="Production", alias=None, credentials=credentials)
    assert PASSWORD not in full_text(raised.value)
    echo = f"Authorization header was: Basic ... password {PASSWORD}"
    with (
        http_server({f"GET {ALIAS_PATH}": (502, echo)}) as uri,
        pytest.raises(RegistryUnavailable) as raised,
    ):
        resolve_version(uri, MODEL, stage=None, alias="champion", credentials=credentials)
    assert PASSWORD not in full_text(raised.value)
    assert "password ***" in str(raised.value)


@pytest.fixture(scope="module")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Pki, Path]]:
    """An HTTPS MLflow server that checks client certificates of its CA when given.

    Yields its URL, its CA, and a PEM file holding a client certificate and key of that CA.
    """
    root = tmp_path_factory.mktemp("tls")
    pki = Pki(root / "pki")
    pki.create_authority()
    host = reachable_host()[1]
    served = pki.issue("server", common_name=host, server_ips=(host,))
    tls = ServerTls(cert=served.cert, key=served.key, ca=pki.ca_cert, client_ca=pki.ca_cert)
    client = pki.issue("client", common_name="operator")
    client_pem = root / "client.pem"
    client_pem.write_bytes(client.cert.read_bytes() + client.key.read_bytes())
    with mlflow_server(root / "mlflow", tls=tls) as server:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", str(pki.ca_cert))
            register(MlflowClient(server.url, registry_uri=server.url), MODEL)
        yield server.url, pki, client_pem


def other_client_certificate(root: Path) -> Path:
    """A client certificate from a CA the server does not know."""
    pki = Pki(root / "other-pki")
    pki.create_authority()
    client = pki.issue("client", common_name="stranger")
    pem = root / "stranger.pem"
    pem.write_bytes(client.cert.read_bytes() + client.key.read_bytes())
    return pem


def test_tls_settings_come_from_mlflows_environment_variables(
    tls_registry: tuple[str, Pki, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    uri, pki, client_pem = tls_registry
    for name in ("INSECURE_TLS", "SERVER_CERT_PATH", "CLIENT_CERT_PATH"):
        monkeypatch.delenv(f"MLFLOW_TRACKING_{name}", raising=False)

    with pytest.raises(RegistryUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        resolve_version(uri, MODEL, stage=None, alias="champion")

    monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", str(pki.ca_cert))
    assert verdict(uri, MODEL, alias="champion") == "2"
    monkeypatch.setenv("MLFLOW_TRACKING_CLIENT_CERT_PATH", str(client_pem))
    assert verdict(uri, MODEL, alias="champion") == "2"
    monkeypatch.setenv("MLFLOW_TRACKING_CLIENT_CERT_PATH", str(other_client_certificate(tmp_path)))
    assert verdict(uri, MODEL, alias="champion") == "RegistryUnavailable"  # the server refuses it
    monkeypatch.delenv("MLFLOW_TRACKING_CLIENT_CERT_PATH")

    monkeypatch.setenv("MLFLOW_TRACKING_INSECURE_TLS", "true")
    with pytest.raises(RegistryUnavailable, match="set only one of them"):
        resolve_version(uri, MODEL, stage=None, alias="champion")
    monkeypatch.delenv("MLFLOW_TRACKING_SERVER_CERT_PATH")
    with pytest.warns(InsecureRequestWarning):
        assert verdict(uri, MODEL, alias="champion") == "2"
    monkeypatch.setenv("MLFLOW_TRACKING_INSECURE_TLS", "maybe")
    with pytest.raises(RegistryUnavailable, match="MLFLOW_TRACKING_INSECURE_TLS must be one of"):
        resolve_version(uri, MODEL, stage=None, alias="champion")


def test_local_stores_are_read_with_mlflows_client(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    register(MlflowClient(uri, registry_uri=uri), MODEL)
    assert verdict(uri, MODEL, alias="champion") == "2"
    assert verdict(uri, MODEL, stage="Production") == "3"
    assert verdict(uri, MODEL, alias="no-such-alias") == "ModelNotFound"
    assert verdict(uri, "no-such-model", stage="Production") == "ModelNotFound"


def test_the_operator_process_never_imports_mlflow(registry: str) -> None:
    script = (
        "import sys\n"
        "import sentiment_operator.runner, sentiment_operator.reconcile\n"
        "from sentiment_operator.registry import resolve_version\n"
        "assert 'mlflow' not in sys.modules, 'imported'\n"
        f"version = resolve_version({registry!r}, {MODEL!r}, stage='Production', alias=None)\n"
        "assert 'mlflow' not in sys.modules, 'imported to resolve'\n"
        "print(version)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3"
