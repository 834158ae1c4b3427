"""Patterns and rules that the pydantic models and the CRD both enforce, each written once.

A rule here is published twice: to pydantic, which validates specs for the operator and
``render``, and to the CRD (an OpenAPI ``pattern`` or an ``x-kubernetes-validations`` CEL
rule), which the API server enforces at admission. Regexes keep to what Python's ``re``,
RE2 (the API server's) and pydantic all read alike: no look-arounds, no back-references.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
DNS_SUBDOMAIN = rf"^{_SUBDOMAIN}$"
# The name of every child; a Service name must be an RFC 1035 label.
DNS_LABEL = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
#: Longest resource name: the Service and most children carry it unchanged (an RFC 1035
#: label, at most 63) and so does the app.kubernetes.io/instance label value (at most 63).
#: The one suffixed child name, NAME-dashboard, is a ConfigMap's: a DNS subdomain (253).
NAME_MAX_LENGTH = 63
DURATION = r"^(0|([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?)$"
DECIMAL = r"^[0-9]+(\.[0-9]+)?$"
HTTP_URL = r"^https?://\S+$"
QUANTITY = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)

#: A registered-model name: anything but '/' and control characters (newlines included).
MODEL_NAME = r"^[^/\x00-\x1f\x7f]+$"

# An image reference as the distribution/reference grammar has it (IPv6 hosts aside):
# [host[:port]/]path[:tag][@algorithm:hex], the path lower-case.
_HOST = r"[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*"
_PATH_COMPONENT = r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*"
IMAGE = (
    rf"^({_HOST}(:[0-9]+)?/)?{_PATH_COMPONENT}(/{_PATH_COMPONENT})*"
    r"(:[A-Za-z0-9_][-A-Za-z0-9_.]{0,127})?(@[a-z0-9]+([+._-][a-z0-9]+)*:[0-9a-fA-F]{32,})?$"
)

#: A label key's structure: [DNS-subdomain prefix '/'] name ...
LABEL_KEY = rf"^({_SUBDOMAIN}/)?[A-Za-z0-9]([-A-Za-z0-9_.]{{0,61}}[A-Za-z0-9])?$"
#: ... and its lengths: a prefix of at most 253 characters, a name of at most 63.
LABEL_KEY_LENGTHS = r"^([^/]{1,253}/)?[^/]{1,63}$"
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
LABEL_VALUE_MAX_LENGTH = 63

#: User info (``user:pass@``) or a credential-looking query or fragment parameter in a URL.
CREDENTIAL_URL = (
    r"(?i)^[a-z][-a-z0-9+.]*://[^/?#]*@"
    r"|[?&;#][^=&;#?]*(token|passw|pwd|secret|api[-_]?key|access[-_]?key|credential|signature)"
    r"[^=&;#?]*="
    r"|[?&;#](key|sig)="
)
#: Environment variables that hold credentials (any case): MLFLOW_TRACKING_USERNAME, names
#: containing PASSW, SECRET, CONNECTION_STRING or APIKEY, with TOKEN as a word, or ending
#: in _KEY or _KEY_ID ...
CREDENTIAL_ENV = (
    r"(?i)^MLFLOW_TRACKING_USERNAME$|PASSW|SECRET|CONNECTION_STRING|APIKEY"
    r"|(^|_)TOKEN(_|$)|(^|_)KEY(_ID)?$"
)
#: ... unless the name says it holds a path (GOOGLE_APPLICATION_CREDENTIALS does too).
PATH_ENV = r"(?i)_(FILE|PATH|DIR)$"
#: Well-known credential variables of MLflow, boto3, Azure and DagsHub; CREDENTIAL_ENV
#: covers every one (a test checks it).
KNOWN_CREDENTIAL_ENV = (
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_ACCESS_KEY",
    "DAGSHUB_USER_TOKEN",
)
#: The pydantic error type of a refused credential: its input is never echoed.
CREDENTIALS_ERROR = "credentials"
WHERE_CREDENTIALS_GO = "use registry.credentialsSecret"


def valid_label_key(key: str) -> bool:
    """A Kubernetes label key: ``[prefix/]name``."""
    return re.search(LABEL_KEY, key) is not None and re.search(LABEL_KEY_LENGTHS, key) is not None


def valid_label_value(value: str) -> bool:
    """A Kubernetes label value: at most 63 characters, alphanumeric at both ends."""
    return len(value) <= LABEL_VALUE_MAX_LENGTH and re.search(LABEL_VALUE, value) is not None


def cel_regex(regex: str) -> str:
    """``regex`` as a CEL raw string literal."""
    if "'" in regex:
        raise ValueError(f"cannot quote {regex!r} for CEL")
    return f"r'{regex}'"


@dataclass(frozen=True)
class Pattern:
    """A regex a string must match: the CRD's OpenAPI ``pattern``, ``message`` in pydantic.

    Use it in ``Annotated[str, Pattern(...)]`` where pydantic's own pattern error
    ("String should match pattern '...'") would not tell the user what is wrong.
    """

    regex: str
    message: str

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {**handler(schema), "pattern": self.regex}

    def _check(self, value: str) -> str:
        if re.search(self.regex, value) is None:
            raise ValueError(self.message)
        return value


@dataclass(frozen=True)
class NoCredentials:
    """Refuse a string matching ``regex`` (unless it matches ``unless``) as a credential.

    Pydantic raises a ``CREDENTIALS_ERROR``, whose input ``spec.parse_spec`` never repeats;
    ``cel_rule`` is the same check, with the same message, for the CRD.
    """

    regex: str
    message: str
    unless: str | None = None

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def cel_rule(self, field: str | None = None) -> dict[str, Any]:
        """The CEL rule, on the string itself or, given ``field``, on the object holding it.

        On the object the API server's error names the field without repeating its value,
        which on the string itself it would.
        """
        target = "self" if field is None else f"self.{field}"
        rule = f"!{target}.matches({cel_regex(self.regex)})"
        if self.unless is not None:
            rule += f" || {target}.matches({cel_regex(self.unless)})"
        if field is None:
            return {"rule": rule, "message": self.message}
        return {
            "rule": f"!has({target}) || ({rule})",
            "message": self.message,
            "fieldPath": f".{field}",
        }

    def refuses(self, value: str) -> bool:
        """Whether ``value`` looks like it holds a credential."""
        if re.search(self.regex, value) is None:
            return False
        return self.unless is None or re.search(self.unless, value) is None

    def _check(self, value: str) -> str:
        if self.refuses(value):
            raise PydanticCustomError(CREDENTIALS_ERROR, self.message)
        return value


URL_CREDENTIALS = NoCredentials(
    CREDENTIAL_URL,
    "trackingUri must not carry credentials (user info, or a token, key or password "
    f"parameter): {WHERE_CREDENTIALS_GO}",
)
ENV_CREDENTIALS = NoCredentials(
    CREDENTIAL_ENV,
    f"env must not set a credential variable: {WHERE_CREDENTIALS_GO}",
    unless=PATH_ENV,
)
