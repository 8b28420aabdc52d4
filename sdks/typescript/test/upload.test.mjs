// upload(): batches in parallel with progress, beside a hand-written BatchInsert loop (same
// digest); retries of transient failures only; over HTTP with ids and metadata.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';

import { Client, HyperspaceClient, errors } from 'hyperspace-sdk-ts';
import { startServer } from './helpers/server.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server.finish(); });

const N = 20000;
const DIM = 64;
const BATCH = 1000;

function vectors(n, dim, seed) {
  // a small deterministic generator (xorshift32) -> floats in [-1, 1)
  let x = seed >>> 0 || 1;
  return Array.from({ length: n }, () => {
    const v = new Float32Array(dim);
    for (let j = 0; j < dim; j++) {
      x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      v[j] = x / 2 ** 31 - 1;
    }
    return v;
  });
}

test(`upload ${N} x ${DIM} with progress, beside a raw BatchInsert loop`, async () => {
  const vecs = vectors(N, DIM, 7);
  const c = new Client(server.grpcTarget);
  for (const name of ['up_sdk', 'up_raw']) await c.createCollection(name, DIM, 'l2');

  let t0 = performance.now();
  for (let s = 0; s < N; s += BATCH) {
    const ids = Array.from({ length: BATCH }, (_, i) => s + i);
    await c.batchInsert(vecs.slice(s, s + BATCH), ids, null, 'up_raw');
  }
  const raw = (performance.now() - t0) / 1000;

  const seen = [];
  t0 = performance.now();
  const n = await c.upload('up_sdk', vecs, null, null,
    { batchSize: BATCH, parallel: 2, onProgress: (done, total) => seen.push([done, total]) });
  const sdk = (performance.now() - t0) / 1000;
  assert.equal(n, N);
  assert.equal(seen.length, N / BATCH);
  assert.deepEqual(seen.at(-1), [N, N]);
  assert.deepEqual(seen.map(([d]) => d), [...seen.map(([d]) => d)].sort((a, b) => a - b));
  assert.equal((await c.getCollectionStats('up_sdk')).count, N);
  assert.equal((await c.getDigest('up_sdk')).state_hash, (await c.getDigest('up_raw')).state_hash);
  const probe = [0, 4242, N - 1];
  const hits = await c.searchBatch(probe.map((i) => vecs[i]), 1, 'up_sdk');
  assert.deepEqual(hits.map((h) => h[0].id), probe);
  const line = `upload ${N}x${DIM}: upload(batch ${BATCH}, parallel 2) ${sdk.toFixed(2)} s = ${Math.round(N / sdk)} vectors/s; ` +
    `sequential batchInsert loop ${raw.toFixed(2)} s = ${Math.round(N / raw)} vectors/s`;
  console.log(line);
  if (process.env.HS_SDK_REPORT) fs.appendFileSync(process.env.HS_SDK_REPORT, `typescript ${line}\n`);
  for (const name of ['up_sdk', 'up_raw']) await c.deleteCollection(name);
  c.close();
});

test('upload over HTTP with ids and metadata', async () => {
  const c = new Client(server.url);
  await c.createCollection('up_http', 4, 'cosine');
  const vecs = vectors(3000, 4, 3).map((v) => Array.from(v, (x) => Math.abs(x) + 0.1));
  const ids = Array.from({ length: 3000 }, (_, i) => i + 10);
  const md = ids.map((_, i) => ({ even: i % 2 === 0 }));
  assert.equal(await c.upload('up_http', vecs, ids, md, { batchSize: 700, parallel: 3 }), 3000);
  assert.equal((await c.getCollectionStats('up_http')).count, 3000);
  const hits = await c.search(vecs[5], 1, 'up_http', { filter: { even: false } });
  assert.equal(hits[0].id, 15);
  assert.deepEqual(hits[0].metadata, { even: 'false' });
  await assert.rejects(c.upload('up_http', vecs, ids.slice(1)), RangeError);
  await c.deleteCollection('up_http');
  c.close();
});

/** Wraps a transport: the first `fail` batch calls reject with `error` before reaching the server. */
function flaky(inner, fail, error) {
  const w = Object.create(inner);
  w.calls = 0;
  w.inner = inner;
  w.batchInsert = (args) => {
    w.calls += 1;
    if (w.calls <= fail) return Promise.reject(error);
    return inner.batchInsert(args);
  };
  return w;
}

test('upload retries transient failures only', async () => {
  const c = new Client(server.grpcTarget);
  await c.createCollection('up_retry', 4, 'l2');
  const ones = (n, d) => Array.from({ length: n }, () => new Array(d).fill(1));
  const real = c._transport;
  c._transport = flaky(real, 2, new errors.UnavailableError('Server is starting'));
  assert.equal(await c.upload('up_retry', ones(10, 4), null, null, { batchSize: 5, parallel: 1, retryDelayMs: 1 }), 10);
  assert.equal(c._transport.calls, 4); // 2 failed tries, then both batches
  assert.equal((await c.getCollectionStats('up_retry')).count, 10);

  c._transport = flaky(real, 10, new errors.DeadlineExceededError('slow'));
  await assert.rejects(c.upload('up_retry', ones(10, 4), null, null, { batchSize: 5, parallel: 1, maxRetries: 2, retryDelayMs: 1 }),
    errors.DeadlineExceededError);
  assert.equal(c._transport.calls, 3); // one try and two retries of the first batch

  c._transport = flaky(real, 0, null);
  await assert.rejects(c.upload('up_retry', ones(10, 3), null, null, { batchSize: 5, parallel: 1, retryDelayMs: 1 }),
    errors.DimensionMismatchError);
  assert.equal(c._transport.calls, 1); // not transient: no retry, and no further batch
  c._transport = real;

  const lines = [];
  const compat = new HyperspaceClient(server.grpcTarget, null, null, { logger: { warn: (m) => lines.push(m) } });
  assert.equal(await compat.upload('up_retry', ones(10, 3), null, null, { batchSize: 5 }), false);
  assert.equal(lines.length, 1);
  assert.match(lines[0], /^hyperspace upload failed: DIMENSION_MISMATCH/);
  await c.deleteCollection('up_retry');
  compat.close();
  c.close();
});
