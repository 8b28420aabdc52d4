"""Typed errors: one class per error code of the server, the same on gRPC and HTTP.

Every error carries `code` (the server's error code, e.g. ``"DIMENSION_MISMATCH"``, or the gRPC
status name when the transport gives no finer code), `message` (the server's text, exact),
`details` (a dict: ``expected``/``got`` for a dimension mismatch, ``index`` for a batch entry,
``squared_norm`` for a point outside the Poincaré ball, ``collection`` for a missing collection),
`status` (the gRPC status name), `http_status` (when it came over HTTP) and `method` (the
operation that failed).
"""
import re

__all__ = [
    "HyperspaceError", "InvalidArgumentError", "DimensionMismatchError", "OutOfBallError",
    "InvalidVectorError", "UnauthenticatedError", "PermissionDeniedError", "NotFoundError",
    "CollectionNotFoundError", "PointNotFoundError", "AlreadyExistsError",
    "FailedPreconditionError", "FollowerReadOnlyError", "ResourceExhaustedError",
    "UnavailableError", "DeadlineExceededError", "UnimplementedError", "InternalError",
    "TRANSIENT",
]


class HyperspaceError(Exception):
    """Base class of every error the SDK raises for a failed call."""
    status = "UNKNOWN"

    def __init__(self, message, code=None, details=None, status=None, http_status=None,
                 method=None):
        super().__init__(message)
        self.message = message
        self.status = status or type(self).status
        self.code = code or self.status
        self.details = dict(details or {})
        self.http_status = http_status
        self.method = method

    def __str__(self):
        where = "%s: " % self.method if self.method else ""
        return "%s%s (%s)" % (where, self.message, self.code)

    def __repr__(self):
        return "%s(%r, code=%r, details=%r)" % (type(self).__name__, self.message, self.code,
                                                 self.details)


class InvalidArgumentError(HyperspaceError, ValueError):
    status = "INVALID_ARGUMENT"


class DimensionMismatchError(InvalidArgumentError):
    """details: expected, got (and index for a batch entry)."""


class OutOfBallError(InvalidArgumentError):
    """A Poincaré vector with squared norm >= 1; details: squared_norm."""


class InvalidVectorError(InvalidArgumentError):
    """Empty, non-finite, beyond float32, or a zero vector on cosine."""


class UnauthenticatedError(HyperspaceError, PermissionError):
    status = "UNAUTHENTICATED"


class PermissionDeniedError(HyperspaceError, PermissionError):
    status = "PERMISSION_DENIED"


class NotFoundError(HyperspaceError, LookupError):
    status = "NOT_FOUND"


class CollectionNotFoundError(NotFoundError):
    """details: collection (when the server named it)."""


class PointNotFoundError(NotFoundError):
    pass


class AlreadyExistsError(HyperspaceError):
    status = "ALREADY_EXISTS"


class FailedPreconditionError(HyperspaceError):
    status = "FAILED_PRECONDITION"


class FollowerReadOnlyError(FailedPreconditionError):
    """A write sent to a follower.  Leader redirection will use it once replication exists."""


class ResourceExhaustedError(HyperspaceError):
    status = "RESOURCE_EXHAUSTED"


class UnavailableError(HyperspaceError, ConnectionError):
    """The server is unreachable, starting or shutting down (transient: retried by upload)."""
    status = "UNAVAILABLE"


class DeadlineExceededError(HyperspaceError, TimeoutError):
    status = "DEADLINE_EXCEEDED"


class UnimplementedError(HyperspaceError, NotImplementedError):
    status = "UNIMPLEMENTED"


class InternalError(HyperspaceError):
    """Server-side failures: storage errors, read-only or quarantined collections."""
    status = "INTERNAL"


# errors worth retrying for idempotent calls (batch upserts, reads)
TRANSIENT = (UnavailableError, DeadlineExceededError)

_BY_STATUS = {
    "INVALID_ARGUMENT": InvalidArgumentError, "OUT_OF_RANGE": InvalidArgumentError,
    "UNAUTHENTICATED": UnauthenticatedError, "PERMISSION_DENIED": PermissionDeniedError,
    "NOT_FOUND": NotFoundError, "ALREADY_EXISTS": AlreadyExistsError,
    "FAILED_PRECONDITION": FailedPreconditionError,
    "RESOURCE_EXHAUSTED": ResourceExhaustedError, "UNAVAILABLE": UnavailableError,
    "DEADLINE_EXCEEDED": DeadlineExceededError, "UNIMPLEMENTED": UnimplementedError,
    "INTERNAL": InternalError, "DATA_LOSS": InternalError, "ABORTED": UnavailableError,
}

# the server's error codes (HTTP envelope) -> (class, gRPC status)
_BY_CODE = {
    "DIMENSION_MISMATCH": DimensionMismatchError, "OUT_OF_BALL": OutOfBallError,
    "INVALID_VECTOR": InvalidVectorError, "COLLECTION_NOT_FOUND": CollectionNotFoundError,
    "POINT_NOT_FOUND": PointNotFoundError, "FOLLOWER_READ_ONLY": FollowerReadOnlyError,
    "ROUTE_NOT_FOUND": NotFoundError, "METHOD_NOT_ALLOWED": UnimplementedError,
    "PAYLOAD_TOO_LARGE": ResourceExhaustedError, "INSUFFICIENT_STORAGE": ResourceExhaustedError,
    "UNSUPPORTED_MEDIA_TYPE": InvalidArgumentError, "HEADERS_TOO_LARGE": InvalidArgumentError,
    "STORAGE_ERROR": InternalError, "COLLECTION_READ_ONLY": InternalError,
    "COLLECTION_UNAVAILABLE": InternalError,
}

_HTTP_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                404: "NOT_FOUND", 405: "UNIMPLEMENTED", 409: "ALREADY_EXISTS",
                413: "RESOURCE_EXHAUSTED", 415: "INVALID_ARGUMENT", 431: "INVALID_ARGUMENT",
                500: "INTERNAL", 501: "UNIMPLEMENTED", 503: "UNAVAILABLE",
                504: "DEADLINE_EXCEEDED", 507: "RESOURCE_EXHAUSTED"}

_RE_INDEX = re.compile(r"^(?:vectors|searches)\[(\d+)\]: ")
_RE_DIM = re.compile(r"dimension mismatch\. Expected (\d+), got (\d+)")
_RE_BALL = re.compile(r"Poincar\S* ball \(squared norm ([0-9.eE+-]+) >= 1\)")
_RE_COLL = re.compile(r"^Collection '([^']*)' not found")


def _details_from_message(message):
    """What the gRPC message text says (gRPC carries no structured details)."""
    details, code = {}, None
    m = _RE_INDEX.match(message)
    if m:
        details["index"] = int(m.group(1))
        message = message[m.end():]
    m = _RE_DIM.search(message)
    if m:
        details.update(expected=int(m.group(1)), got=int(m.group(2)))
        code = "DIMENSION_MISMATCH"
    m = _RE_BALL.search(message)
    if m:
        details["squared_norm"] = float(m.group(1))
        code = "OUT_OF_BALL"
    m = _RE_COLL.match(message)
    if m:
        details["collection"] = m.group(1)
        code = "COLLECTION_NOT_FOUND"
    if message.startswith("Collection not found"):
        code = "COLLECTION_NOT_FOUND"
    if message.startswith("Followers are read-only"):
        code = "FOLLOWER_READ_ONLY"
    if message.startswith(("Vector must not be empty", "Vector contains a non-finite",
                           "Zero vector is not allowed")):
        code = "INVALID_VECTOR"
    return code, details


def from_grpc(status_name, message, method=None):
    """The error for a gRPC status (name such as "NOT_FOUND") and its message."""
    code, details = _details_from_message(message or "")
    cls = _BY_CODE.get(code) or _BY_STATUS.get(status_name, HyperspaceError)
    return cls(message or status_name, code=code or status_name, details=details,
               status=status_name, method=method)


def from_http(http_status, body, method=None):
    """The error for an HTTP answer: the envelope {"error":{"code","message","details"}}."""
    code = message = None
    details = {}
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        code, message = err.get("code"), err.get("message")
        details = err.get("details") or {}
    status_name = _HTTP_STATUS.get(http_status, "UNKNOWN")
    if code == "FOLLOWER_READ_ONLY":
        status_name = "FAILED_PRECONDITION"
    message = message or (body if isinstance(body, str) and body else "HTTP %d" % http_status)
    guessed, more = _details_from_message(message)
    for k, v in more.items():
        details.setdefault(k, v)
    cls = _BY_CODE.get(code) or _BY_CODE.get(guessed) or _BY_STATUS.get(status_name,
                                                                         HyperspaceError)
    return cls(message, code=code or status_name, details=details, status=status_name,
               http_status=http_status, method=method)
