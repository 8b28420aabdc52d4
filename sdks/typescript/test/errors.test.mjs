// The error classes and the mapping of gRPC statuses, HTTP envelopes and message texts (no server).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { errors } from 'hyperspace-sdk-ts';

const E = errors;

test('one class per status, with the common base and Error', () => {
  const cases = {
    INVALID_ARGUMENT: E.InvalidArgumentError, OUT_OF_RANGE: E.InvalidArgumentError,
    UNAUTHENTICATED: E.UnauthenticatedError, PERMISSION_DENIED: E.PermissionDeniedError,
    NOT_FOUND: E.NotFoundError, ALREADY_EXISTS: E.AlreadyExistsError,
    FAILED_PRECONDITION: E.FailedPreconditionError, RESOURCE_EXHAUSTED: E.ResourceExhaustedError,
    UNAVAILABLE: E.UnavailableError, DEADLINE_EXCEEDED: E.DeadlineExceededError,
    UNIMPLEMENTED: E.UnimplementedError, INTERNAL: E.InternalError, DATA_LOSS: E.InternalError,
    UNKNOWN: E.HyperspaceError,
  };
  for (const [status, cls] of Object.entries(cases)) {
    const e = E.fromGrpc(status, 'something', 'Search');
    assert.equal(e.constructor, cls, status);
    assert.ok(e instanceof E.HyperspaceError && e instanceof Error);
    assert.equal(e.status, status);
    assert.equal(e.code, status);
    assert.equal(e.method, 'Search');
    assert.equal(e.name, cls.name);
  }
  assert.equal(new E.DimensionMismatchError('x').status, 'INVALID_ARGUMENT');
  assert.equal(new E.CollectionNotFoundError('x').code, 'NOT_FOUND');
  assert.equal(new E.FollowerReadOnlyError('x').status, 'FAILED_PRECONDITION');
  assert.ok(new E.PointNotFoundError('x') instanceof E.NotFoundError);
  assert.ok(E.isTransient(new E.UnavailableError('x')) && E.isTransient(new E.DeadlineExceededError('x')));
  assert.ok(!E.isTransient(new E.InternalError('x')) && !E.isTransient(new Error('x')));
});

test('gRPC message texts give codes and details', () => {
  let e = E.fromGrpc('INVALID_ARGUMENT', 'vectors[7]: Vector dimension mismatch. Expected 128, got 64');
  assert.ok(e instanceof E.DimensionMismatchError);
  assert.equal(e.code, 'DIMENSION_MISMATCH');
  assert.deepEqual(e.details, { index: 7, expected: 128, got: 64 });
  assert.equal(e.message, 'vectors[7]: Vector dimension mismatch. Expected 128, got 64');
  e = E.fromGrpc('INVALID_ARGUMENT', 'Vector must be strictly inside the Poincaré ball (squared norm 1.28 >= 1)');
  assert.ok(e instanceof E.OutOfBallError);
  assert.deepEqual(e.details, { squared_norm: 1.28 });
  e = E.fromGrpc('NOT_FOUND', "Collection 'abc' not found");
  assert.ok(e instanceof E.CollectionNotFoundError);
  assert.deepEqual(e.details, { collection: 'abc' });
  e = E.fromGrpc('FAILED_PRECONDITION', 'Followers are read-only');
  assert.ok(e instanceof E.FollowerReadOnlyError);
  for (const m of ['Vector must not be empty', 'Vector contains a non-finite value at index 3',
    'Zero vector is not allowed with the cosine metric']) {
    assert.ok(E.fromGrpc('INVALID_ARGUMENT', m) instanceof E.InvalidVectorError, m);
  }
  e = E.fromGrpc('UNAVAILABLE', '');
  assert.equal(e.message, 'UNAVAILABLE');
});

test('HTTP envelopes give codes, details and the status', () => {
  let e = E.fromHttp(400, { error: { code: 'DIMENSION_MISMATCH', message: 'Vector dimension mismatch. Expected 2, got 3', details: { expected: 2, got: 3 } } }, 'Insert');
  assert.ok(e instanceof E.DimensionMismatchError);
  assert.equal(e.httpStatus, 400);
  assert.equal(e.status, 'INVALID_ARGUMENT');
  assert.deepEqual(e.details, { expected: 2, got: 3 });
  e = E.fromHttp(409, { error: { code: 'FOLLOWER_READ_ONLY', message: 'Followers are read-only' } });
  assert.ok(e instanceof E.FollowerReadOnlyError);
  assert.equal(e.status, 'FAILED_PRECONDITION');
  e = E.fromHttp(409, { error: { code: 'ALREADY_EXISTS', message: "Collection 'a' already exists" } });
  assert.ok(e instanceof E.AlreadyExistsError);
  e = E.fromHttp(413, { error: { code: 'PAYLOAD_TOO_LARGE', message: 'too large', details: { limit_bytes: 1048576 } } });
  assert.ok(e instanceof E.ResourceExhaustedError);
  assert.deepEqual(e.details, { limit_bytes: 1048576 });
  e = E.fromHttp(404, { error: { code: 'POINT_NOT_FOUND', message: 'Point 3 not found' } });
  assert.ok(e instanceof E.PointNotFoundError);
  e = E.fromHttp(400, { error: { code: 'INVALID_NAME', message: 'bad name' } });
  assert.ok(e instanceof E.InvalidArgumentError);
  assert.equal(e.code, 'INVALID_NAME');
  e = E.fromHttp(500, { error: { code: 'STORAGE_ERROR', message: 'disk' } });
  assert.ok(e instanceof E.InternalError);
  e = E.fromHttp(502, 'Bad gateway');
  assert.equal(e.constructor, E.HyperspaceError);
  assert.equal(e.message, 'Bad gateway');
  assert.equal(E.fromHttp(503, null).message, 'HTTP 503');
});
