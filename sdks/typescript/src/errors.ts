/**
 * Typed errors: one class per error code of the server, the same on gRPC and HTTP (and the
 * same classes and codes as the Python SDK's `hyperspace.errors`).
 *
 * Every error carries `code` (the server's error code, e.g. `"DIMENSION_MISMATCH"`, or the
 * gRPC status name when the transport gives no finer code), `message` (the server's text,
 * exact), `details` (`expected`/`got` for a dimension mismatch, `index` for a batch entry,
 * `squared_norm` for a point outside the Poincaré ball, `collection` for a missing
 * collection), `status` (the gRPC status name), `httpStatus` (when it came over HTTP) and
 * `method` (the operation that failed).
 */

export type ErrorDetails = Record<string, unknown>;

export interface ErrorInit {
  code?: string;
  details?: ErrorDetails;
  status?: string;
  httpStatus?: number;
  method?: string;
}

/** Base class of every error the SDK raises for a failed call. */
export class HyperspaceError extends Error {
  static readonly defaultStatus: string = 'UNKNOWN';
  /** The server's error code (e.g. DIMENSION_MISMATCH), else the status name. */
  readonly code: string;
  /** The gRPC status name (INVALID_ARGUMENT, NOT_FOUND, ...). */
  readonly status: string;
  readonly details: ErrorDetails;
  readonly httpStatus?: number;
  readonly method?: string;

  constructor(message: string, init: ErrorInit = {}) {
    super(message);
    const ctor = new.target as unknown as { defaultStatus: string; name: string };
    this.name = ctor.name;
    this.status = init.status ?? ctor.defaultStatus;
    this.code = init.code ?? this.status;
    this.details = { ...(init.details ?? {}) };
    if (init.httpStatus !== undefined) this.httpStatus = init.httpStatus;
    if (init.method !== undefined) this.method = init.method;
  }

  override toString(): string {
    return `${this.name}: ${this.method ? this.method + ': ' : ''}${this.message} (${this.code})`;
  }
}

/** Names, dimensions, metrics, parameters, filters, metadata (INVALID_ARGUMENT). */
export class InvalidArgumentError extends HyperspaceError {
  static override readonly defaultStatus: string = 'INVALID_ARGUMENT';
}
/** details: expected, got (and index for a batch entry). */
export class DimensionMismatchError extends InvalidArgumentError {}
/** A Poincaré vector with squared norm >= 1; details: squared_norm. */
export class OutOfBallError extends InvalidArgumentError {}
/** Empty, non-finite, beyond float32, or a zero vector on cosine. */
export class InvalidVectorError extends InvalidArgumentError {}
export class UnauthenticatedError extends HyperspaceError {
  static override readonly defaultStatus: string = 'UNAUTHENTICATED';
}
export class PermissionDeniedError extends HyperspaceError {
  static override readonly defaultStatus: string = 'PERMISSION_DENIED';
}
export class NotFoundError extends HyperspaceError {
  static override readonly defaultStatus: string = 'NOT_FOUND';
}
/** details: collection (when the server named it). */
export class CollectionNotFoundError extends NotFoundError {}
export class PointNotFoundError extends NotFoundError {}
export class AlreadyExistsError extends HyperspaceError {
  static override readonly defaultStatus: string = 'ALREADY_EXISTS';
}
export class FailedPreconditionError extends HyperspaceError {
  static override readonly defaultStatus: string = 'FAILED_PRECONDITION';
}
/** A write sent to a follower. */
export class FollowerReadOnlyError extends FailedPreconditionError {}
/** Body or message too large, no space. */
export class ResourceExhaustedError extends HyperspaceError {
  static override readonly defaultStatus: string = 'RESOURCE_EXHAUSTED';
}
/** The server is unreachable, starting or shutting down (transient: retried by upload). */
export class UnavailableError extends HyperspaceError {
  static override readonly defaultStatus: string = 'UNAVAILABLE';
}
/** The call took longer than its timeout (transient: retried by upload). */
export class DeadlineExceededError extends HyperspaceError {
  static override readonly defaultStatus: string = 'DEADLINE_EXCEEDED';
}
/** InsertText, Monitor over HTTP. */
export class UnimplementedError extends HyperspaceError {
  static override readonly defaultStatus: string = 'UNIMPLEMENTED';
}
/** Server-side failures: storage errors, read-only or quarantined collections. */
export class InternalError extends HyperspaceError {
  static override readonly defaultStatus: string = 'INTERNAL';
}

type ErrorClass = new (message: string, init?: ErrorInit) => HyperspaceError;

/** Errors worth retrying for idempotent calls (batch upserts, reads). */
export function isTransient(e: unknown): boolean {
  return e instanceof UnavailableError || e instanceof DeadlineExceededError;
}

const BY_STATUS: Record<string, ErrorClass> = {
  INVALID_ARGUMENT: InvalidArgumentError, OUT_OF_RANGE: InvalidArgumentError,
  UNAUTHENTICATED: UnauthenticatedError, PERMISSION_DENIED: PermissionDeniedError,
  NOT_FOUND: NotFoundError, ALREADY_EXISTS: AlreadyExistsError,
  FAILED_PRECONDITION: FailedPreconditionError, RESOURCE_EXHAUSTED: ResourceExhaustedError,
  UNAVAILABLE: UnavailableError, DEADLINE_EXCEEDED: DeadlineExceededError,
  UNIMPLEMENTED: UnimplementedError, INTERNAL: InternalError, DATA_LOSS: InternalError,
  ABORTED: UnavailableError,
};

/** The server's error codes (HTTP envelope, or read from a gRPC message). */
const BY_CODE: Record<string, ErrorClass> = {
  DIMENSION_MISMATCH: DimensionMismatchError, OUT_OF_BALL: OutOfBallError,
  INVALID_VECTOR: InvalidVectorError, COLLECTION_NOT_FOUND: CollectionNotFoundError,
  POINT_NOT_FOUND: PointNotFoundError, FOLLOWER_READ_ONLY: FollowerReadOnlyError,
  ROUTE_NOT_FOUND: NotFoundError, METHOD_NOT_ALLOWED: UnimplementedError,
  PAYLOAD_TOO_LARGE: ResourceExhaustedError, INSUFFICIENT_STORAGE: ResourceExhaustedError,
  UNSUPPORTED_MEDIA_TYPE: InvalidArgumentError, HEADERS_TOO_LARGE: InvalidArgumentError,
  STORAGE_ERROR: InternalError, COLLECTION_READ_ONLY: InternalError,
  COLLECTION_UNAVAILABLE: InternalError,
};

const HTTP_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND',
  405: 'UNIMPLEMENTED', 409: 'ALREADY_EXISTS', 413: 'RESOURCE_EXHAUSTED',
  415: 'INVALID_ARGUMENT', 431: 'INVALID_ARGUMENT', 500: 'INTERNAL', 501: 'UNIMPLEMENTED',
  503: 'UNAVAILABLE', 504: 'DEADLINE_EXCEEDED', 507: 'RESOURCE_EXHAUSTED',
};

const RE_INDEX = /^(?:vectors|searches)\[(\d+)\]: /;
const RE_DIM = /dimension mismatch\. Expected (\d+), got (\d+)/;
const RE_BALL = /Poincar\S* ball \(squared norm ([0-9.eE+-]+) >= 1\)/;
const RE_COLL = /^Collection '([^']*)' not found/;

/** The code and details that the message text gives (gRPC carries no structured details). */
export function detailsFromMessage(message: string): { code?: string; details: ErrorDetails } {
  const details: ErrorDetails = {};
  let code: string | undefined;
  let m = RE_INDEX.exec(message);
  if (m) {
    details.index = Number(m[1]);
    message = message.slice(m[0].length);
  }
  if ((m = RE_DIM.exec(message))) {
    details.expected = Number(m[1]);
    details.got = Number(m[2]);
    code = 'DIMENSION_MISMATCH';
  }
  if ((m = RE_BALL.exec(message))) {
    details.squared_norm = Number(m[1]);
    code = 'OUT_OF_BALL';
  }
  if ((m = RE_COLL.exec(message))) {
    details.collection = m[1];
    code = 'COLLECTION_NOT_FOUND';
  }
  if (message.startsWith('Collection not found')) code = 'COLLECTION_NOT_FOUND';
  if (message.startsWith('Followers are read-only')) code = 'FOLLOWER_READ_ONLY';
  if (['Vector must not be empty', 'Vector contains a non-finite', 'Zero vector is not allowed']
    .some((p) => message.startsWith(p))) code = 'INVALID_VECTOR';
  return { code, details };
}

/** The error for a gRPC status (name such as "NOT_FOUND") and its message. */
export function fromGrpc(statusName: string, message: string, method?: string): HyperspaceError {
  const { code, details } = detailsFromMessage(message || '');
  const cls = (code && BY_CODE[code]) || BY_STATUS[statusName] || HyperspaceError;
  return new cls(message || statusName, { code: code ?? statusName, details, status: statusName, method });
}

/** The error for an HTTP answer: the envelope {"error":{"code","message","details"}}. */
export function fromHttp(httpStatus: number, body: unknown, method?: string): HyperspaceError {
  let code: string | undefined;
  let message: string | undefined;
  let details: ErrorDetails = {};
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const err = (body as { error?: unknown }).error;
    if (err && typeof err === 'object') {
      const e = err as { code?: unknown; message?: unknown; details?: unknown };
      if (typeof e.code === 'string') code = e.code;
      if (typeof e.message === 'string') message = e.message;
      if (e.details && typeof e.details === 'object') details = { ...(e.details as ErrorDetails) };
    }
  }
  let statusName = HTTP_STATUS[httpStatus] ?? 'UNKNOWN';
  if (code === 'FOLLOWER_READ_ONLY') statusName = 'FAILED_PRECONDITION';
  if (!message) message = typeof body === 'string' && body ? body : `HTTP ${httpStatus}`;
  const guessed = detailsFromMessage(message);
  for (const [k, v] of Object.entries(guessed.details)) if (!(k in details)) details[k] = v;
  const cls = (code && BY_CODE[code]) || (guessed.code && BY_CODE[guessed.code]) ||
    BY_STATUS[statusName] || HyperspaceError;
  return new cls(message, { code: code ?? statusName, details, status: statusName, httpStatus, method });
}
