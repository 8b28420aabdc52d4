// HyperspaceClient / Client against the real server: every method on both transports, the
// v2.0.0 return conventions, typed errors with details, auth, follower, tenants, transports.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  Client, DurabilityLevel, HyperspaceClient, errors,
} from 'hyperspace-sdk-ts';
import { Server, freePort, startServer } from './helpers/server.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server.finish(); });

const TRANSPORTS = {
  grpc: (s, opts = {}, key, user) => new HyperspaceClient(s.grpcTarget, key, user, { httpUrl: s.url, ...opts }),
  http: (s, opts = {}, key, user) => new HyperspaceClient(s.url, key, user, opts),
};
const strictClient = (kind, s, opts = {}, key, user) => TRANSPORTS[kind](s, { raiseErrors: true, ...opts }, key, user);

function recorder() {
  const lines = [];
  return { lines, logger: { warn: (m) => lines.push(m) } };
}

for (const kind of Object.keys(TRANSPORTS)) {
  describe(`over ${kind}`, () => {
    test('every method', async () => {
      const c = TRANSPORTS[kind](server);
      assert.equal(c.transport, kind);
      const name = `every_${kind}`;
      await c.deleteCollection(name);
      assert.equal(await c.createCollection(name, 4, 'l2'), true);
      assert.ok((await c.listCollections()).includes(name));
      // v2.0.0 positions: insert(id, vector, meta, collection, durability)
      assert.equal(await c.insert(1, [1, 0, 0, 0], { color: 'red', n: 5 }, name, DurabilityLevel.STRICT), true);
      assert.equal(await c.insert(2, new Float32Array([0, 1, 0, 0]), { color: 'blue', n: 7 }, name), true);
      assert.equal(await c.batchInsert([[0, 0, 1, 0], new Float64Array([0, 0, 0, 1])], [3, 4],
        [{ color: 'red', n: 9 }, { color: 'green', n: 11 }], name, 'batch'), true);
      let st = await c.getCollectionStats(name);
      assert.equal(st.count, 4);
      assert.equal(st.dimension, 4);
      assert.equal(st.metric, 'l2');
      for (const k of ['indexing_queue', 'quantization', 'deleted_count', 'memory_bytes', 'loaded', 'm', 'ef_construction', 'ef_search']) {
        assert.ok(k in st, k);
      }

      let hits = await c.search([1, 0.1, 0, 0], 2, name);
      assert.deepEqual(hits.map((h) => h.id), [1, 2]);
      assert.deepEqual(hits[0].metadata, { color: 'red', n: '5' });
      assert.ok(Math.abs(hits[0].distance - 0.01) < 1e-7, String(hits[0].distance));
      assert.ok(!('score' in hits[0]));
      hits = await c.search([0, 0, 1, 0], 10, name, { filter: { color: 'red' } });
      assert.deepEqual(hits.map((h) => h.id), [3, 1]);
      hits = await c.search([0, 0, 1, 0], 10, name, { filters: [{ type: 'range', key: 'n', gte: 6, lte: 10 }] });
      assert.deepEqual(hits.map((h) => h.id), [3, 2]);
      hits = await c.search([0, 0, 1, 0], 10, name, { filters: [{ match: { key: 'color', value: 'green' } }] });
      assert.deepEqual(hits.map((h) => h.id), [4]);
      hits = await c.search([0, 0, 1, 0], 10, name, { filters: [{ type: 'range', key: 'n', lte: 6n }] });
      assert.deepEqual(hits.map((h) => h.id), [1]);
      const hy = await c.search([0, 0, 0, 1], 4, name, { hybridQuery: 'blue', hybridAlpha: 0.9 });
      assert.equal(hy[0].id, 2);
      assert.ok(hy[0].score > 0);
      const batch = await c.searchBatch([[1, 0, 0, 0], [0, 0, 0, 1]], 1, name);
      assert.deepEqual(batch.map((r) => r.map((h) => h.id)), [[1], [4]]);
      const fb = await c.searchBatch([[1, 0, 0, 0]], 5, name, { filter: { color: 'red' } });
      assert.deepEqual(fb.map((r) => r.map((h) => h.id)), [[1, 3]]);

      const d = await c.getDigest(name);
      assert.equal(d.count, 4);
      assert.equal(d.buckets.length, 256);
      assert.equal(typeof d.state_hash, 'bigint');
      assert.equal(d.buckets.reduce((a, b) => a ^ b, 0n), d.state_hash);
      assert.ok(d.logical_clock > 0);

      assert.equal(await c.configure(77, 150, name), true);
      st = await c.getCollectionStats(name);
      assert.deepEqual([st.ef_search, st.ef_construction], [77, 150]);
      assert.equal(await c.configure(null, 160, name), true);
      st = await c.getCollectionStats(name);
      assert.deepEqual([st.ef_search, st.ef_construction], [77, 160]);

      const pts = await c.retrieve([4, 99, 1], name);
      assert.deepEqual(pts.map((p) => p.id), [4, 1]);
      assert.equal(pts[0].metadata.color, 'green');
      assert.deepEqual(pts[1].vector, [1, 0, 0, 0]);

      assert.equal(await c.delete(3, name), true);
      assert.equal(await c.delete(3, name), false); // no longer live
      assert.equal((await c.getCollectionStats(name)).count, 3);
      assert.equal(await c.triggerSnapshot(), true);
      assert.equal(await c.triggerVacuum(), true);
      assert.equal(await c.rebuildIndex(name), true);
      assert.equal((await c.getCollectionStats(name)).deleted_count, 0);
      assert.notEqual((await c.search([0, 0, 1, 0], 3, name))[0].id, 3);

      assert.equal(await c.deleteCollection(name), true);
      assert.ok(!(await c.listCollections()).includes(name));
      c.close();
    });

    test('both transports see the same digest', async () => {
      const g = TRANSPORTS.grpc(server, { raiseErrors: true });
      const h = TRANSPORTS.http(server, { raiseErrors: true });
      const name = `same_${kind}`;
      await g.createCollection(name, 2, 'poincare');
      await (kind === 'grpc' ? g : h).batchInsert([[0.1, 0.2], [-0.3, 0.4]], [1, 2], null, name);
      const a = await g.getDigest(name);
      const b = await h.getDigest(name);
      assert.deepEqual(a, b);
      assert.notEqual(a.state_hash, 0n);
      await g.deleteCollection(name);
      g.close();
      h.close();
    });

    test('failures resolve to false / [] / {} and warn once each', async () => {
      const rec = recorder();
      const c = TRANSPORTS[kind](server, { logger: rec.logger });
      const missing = `never_created_${kind}`;
      assert.equal(await c.deleteCollection(missing), false);
      assert.deepEqual(await c.getCollectionStats(missing), {});
      assert.deepEqual(await c.search([1, 2], 10, missing), []);
      assert.deepEqual(await c.searchBatch([[1, 2]], 10, missing), []);
      assert.deepEqual(await c.getDigest(missing), {});
      assert.equal(await c.insert(1, [1, 2], null, missing), false);
      assert.equal(await c.batchInsert([[1, 2]], [1], null, missing), false);
      assert.equal(await c.configure(10, null, missing), false);
      assert.equal(await c.rebuildIndex(missing), false);
      assert.equal(await c.delete(1, missing), false);
      assert.deepEqual(await c.retrieve([1], missing), []);
      assert.equal(await c.createCollection('', 2, 'l2'), false);
      assert.equal(rec.lines.length, 12);
      assert.match(rec.lines[0], /^hyperspace deleteCollection failed: COLLECTION_NOT_FOUND /);
      assert.ok(rec.lines[0].includes(missing));
      assert.match(rec.lines[11], /^hyperspace createCollection failed: (INVALID_ARGUMENT|INVALID_NAME) Collection name cannot be empty/);
      // argument errors are programming errors: they reject even here
      await assert.rejects(c.batchInsert([[1, 2]], [1, 2], null, missing), RangeError);
      await assert.rejects(c.insert(-1, [1, 2]), RangeError);
      c.close();
    });

    test('typed errors carry details', async () => {
      const c = strictClient(kind, server);
      const name = `errs_${kind}`;
      const ball = `errs_ball_${kind}`;
      const cos = `errs_cos_${kind}`;
      await c.createCollection(name, 3, 'l2');
      await c.createCollection(ball, 2, 'poincare');
      await c.createCollection(cos, 3, 'cosine');
      let e = await c.createCollection(name, 3, 'l2').catch((x) => x);
      assert.ok(e instanceof errors.AlreadyExistsError);
      assert.equal(e.status, 'ALREADY_EXISTS');
      assert.ok(e.message.includes(name));
      assert.equal(e.method, 'CreateCollection');
      e = await c.createCollection(`bad_dim_${kind}`, 0, 'l2').catch((x) => x);
      assert.ok(e instanceof errors.InvalidArgumentError);
      assert.match(e.message, /Dimension must be between/);
      e = await c.createCollection(`bad_metric_${kind}`, 3, 'manhattan').catch((x) => x);
      assert.ok(e instanceof errors.InvalidArgumentError);
      e = await c.insert(1, [1, 2], null, name).catch((x) => x);
      assert.ok(e instanceof errors.DimensionMismatchError && e instanceof errors.InvalidArgumentError);
      assert.equal(e.code, 'DIMENSION_MISMATCH');
      assert.deepEqual(e.details, { expected: 3, got: 2 });
      e = await c.batchInsert([[1, 2, 3], [1, 2, 3], [1, 2]], [1, 2, 3], null, name).catch((x) => x);
      assert.ok(e instanceof errors.DimensionMismatchError);
      assert.deepEqual(e.details, { expected: 3, got: 2, index: 2 });
      e = await c.insert(1, [0.9, 0.9], null, ball).catch((x) => x);
      assert.ok(e instanceof errors.OutOfBallError);
      assert.ok(Math.abs(e.details.squared_norm - 1.62) < 1e-9);
      e = await c.insert(1, [0, 0, 0], null, cos).catch((x) => x);
      assert.ok(e instanceof errors.InvalidVectorError);
      assert.equal(e.code, 'INVALID_VECTOR');
      e = await c.search([1, 2, 3], 10, `nope_${kind}`).catch((x) => x);
      assert.ok(e instanceof errors.CollectionNotFoundError && e instanceof errors.NotFoundError);
      assert.equal(e.details.collection, `nope_${kind}`);
      assert.equal(e.status, 'NOT_FOUND');
      if (kind === 'http') assert.equal(e.httpStatus, 404);
      e = await c.search([1, 2, 3], 20000, name).catch((x) => x);
      assert.ok(e instanceof errors.InvalidArgumentError);
      assert.match(e.message, /top_k/);
      e = await c.search([1, 2, 3], 10, name, { hybridQuery: 'x', hybridAlpha: 2 }).catch((x) => x);
      assert.ok(e instanceof errors.InvalidArgumentError);
      assert.match(e.message, /hybrid_alpha/);
      e = await c.configure(0, null, name).catch((x) => x);
      assert.ok(e instanceof errors.InvalidArgumentError);
      e = await c.insertText(1, 'hello', null, name).catch((x) => x);
      assert.ok(e instanceof errors.UnimplementedError);
      e = await c.deleteCollection(`nope_${kind}`).catch((x) => x);
      assert.ok(e instanceof errors.HyperspaceError && e instanceof Error);
      assert.match(String(e), /DeleteCollection/);
      for (const n of [name, ball, cos]) await c.deleteCollection(n);
      c.close();
    });

    test('an empty collection name is the default collection', async () => {
      const c = TRANSPORTS[kind](server);
      assert.equal(typeof await c.insert(7, new Array(8).fill(0.5), null, ''), 'boolean');
      assert.ok((await c.listCollections()).includes('default'));
      c.close();
    });
  });
}

test('an unreachable server is UNAVAILABLE', async () => {
  const port = await freePort();
  const rec = recorder();
  for (const host of [`127.0.0.1:${port}`, `http://127.0.0.1:${port}`]) {
    const c = new HyperspaceClient(host, undefined, undefined, { logger: rec.logger, timeoutMs: 5000 });
    assert.deepEqual(await c.listCollections(), []);
    assert.equal(await c.createCollection('x', 2, 'l2'), false);
    c.close();
  }
  assert.equal(rec.lines.filter((l) => l.includes('UNAVAILABLE')).length, 4);
  for (const host of [`127.0.0.1:${port}`, `http://127.0.0.1:${port}`]) {
    const e = await new Client(host, null, null, { timeoutMs: 5000 }).listCollections().catch((x) => x);
    assert.ok(e instanceof errors.UnavailableError, String(e));
    assert.equal(e.method, 'ListCollections');
    assert.ok(errors.isTransient(e));
  }
});

test('the default logger is console.warn', async (t) => {
  const warn = t.mock.method(console, 'warn', () => {});
  const c = new HyperspaceClient(server.grpcTarget);
  assert.equal(await c.deleteCollection('no_such'), false);
  assert.equal(warn.mock.callCount(), 1);
  assert.match(warn.mock.calls[0].arguments[0], /COLLECTION_NOT_FOUND/);
  c.close();
});

test('a gRPC deadline is DEADLINE_EXCEEDED', async () => {
  const c = new Client(server.grpcTarget, null, null, { timeoutMs: 0.001 });
  const e = await c.listCollections().catch((x) => x);
  assert.ok(e instanceof errors.DeadlineExceededError, String(e));
  assert.equal(e.status, 'DEADLINE_EXCEEDED');
  assert.ok(errors.isTransient(e));
  c.close();
});

test('monitor streams SystemStats over gRPC; HTTP has no Monitor', async () => {
  const c = new Client(server.grpcTarget);
  await c.createCollection('mon', 2, 'l2');
  await c.batchInsert([[0, 1], [1, 0]], [1, 2], null, 'mon');
  const stats = [];
  for await (const s of c.monitor(2)) stats.push(s);
  assert.equal(stats.length, 2);
  assert.deepEqual(Object.keys(stats[0]).sort(), ['qps', 'total_collections', 'total_memory_mb', 'total_vectors']);
  assert.ok(stats[0].total_vectors >= 2 && stats[0].total_collections >= 1);
  await c.deleteCollection('mon');
  c.close();
  const h = new Client(server.url);
  await assert.rejects(async () => { for await (const s of h.monitor()) void s; }, errors.UnimplementedError);
  const rec = recorder();
  const compat = new HyperspaceClient(server.url, null, null, { logger: rec.logger });
  for await (const s of compat.monitor()) void s; // ends at once, with a warning
  assert.equal(rec.lines.length, 1);
});

test('tenants are separate', async () => {
  const a = new Client(server.grpcTarget, null, 'alice');
  const b = new Client(server.url, null, 'bob');
  await a.createCollection('notes', 2, 'l2');
  await b.createCollection('notes', 2, 'l2');
  await a.insert(1, [1, 1], null, 'notes');
  assert.equal((await b.getCollectionStats('notes')).count, 0);
  assert.equal((await a.getCollectionStats('notes')).count, 1);
  await assert.rejects(new Client(server.grpcTarget, null, '../x').listCollections(), errors.InvalidArgumentError);
  await assert.rejects(new Client(server.url, null, '../x').listCollections(), errors.InvalidArgumentError);
  a.close();
  b.close();
});

test('transport "auto" falls back to HTTP when gRPC does not connect', async () => {
  const rec = recorder();
  const c = new HyperspaceClient(`127.0.0.1:${await freePort()}`, null, null,
    { transport: 'auto', httpUrl: server.url, connectTimeoutMs: 500, logger: rec.logger });
  assert.ok((await c.listCollections()).length > 0);
  assert.equal(c.transport, 'http');
  assert.ok(rec.lines.some((l) => l.includes('using HTTP')));
  const g = await new HyperspaceClient(server.grpcTarget, null, null, { transport: 'auto' }).connect();
  assert.equal(g.transport, 'grpc');
  assert.ok(Array.isArray(await g.listCollections()));
  g.close();
});

test('an embedder encodes text for insert and search', async () => {
  const calls = [];
  const embedder = { encode: async (text) => { calls.push(text); return text.includes('apple') ? [1, 0] : [0, 1]; } };
  const c = new Client(server.grpcTarget, null, null, { embedder });
  await c.createCollection('emb_text', 2, 'l2');
  await c.insert(1, 'green apple', { title: 'green apple' }, 'emb_text');
  await c.insert(2, 'blue sky', { title: 'blue sky' }, 'emb_text');
  const hits = await c.search('red apple', 2, 'emb_text', { hybridAlpha: 0.5 });
  assert.equal(hits[0].id, 1);
  assert.ok(hits[0].score > 0); // the text became the hybrid query
  assert.deepEqual(calls, ['green apple', 'blue sky', 'red apple']);
  await assert.rejects(new Client(server.grpcTarget).search('text'), TypeError);
  await c.deleteCollection('emb_text');
  c.close();
});

describe('servers of their own', () => {
  test('resource exhausted: HTTP body limit and gRPC message limit', async () => {
    const s = await startServer({ env: { HS_HTTP_MAX_BODY_MB: '1' } });
    try {
      const c = new Client(s.url);
      await c.createCollection('big', 128, 'l2');
      const vecs = Array.from({ length: 2000 }, (_, i) => Array.from({ length: 128 }, (_, j) => Math.sin(i + j)));
      const e = await c.batchInsert(vecs, vecs.map((_, i) => i), null, 'big').catch((x) => x);
      assert.ok(e instanceof errors.ResourceExhaustedError, String(e));
      assert.equal(e.code, 'PAYLOAD_TOO_LARGE');
      assert.equal(e.httpStatus, 413);
      const g = new Client(s.grpcTarget, null, null, { grpcOptions: { 'grpc.max_receive_message_length': 1000 } });
      assert.equal(await g.batchInsert(vecs.slice(0, 100), vecs.slice(0, 100).map((_, i) => i), null, 'big'), true);
      const e2 = await g.searchBatch(vecs.slice(0, 10), 50, 'big').catch((x) => x);
      assert.ok(e2 instanceof errors.ResourceExhaustedError, String(e2));
      assert.equal(e2.status, 'RESOURCE_EXHAUSTED');
      g.close();
    } finally {
      await s.finish();
    }
  });

  test('authentication and roles', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hs-ts-keys-'));
    const keys = path.join(dir, 'keys');
    const sha = (k) => crypto.createHash('sha256').update(k).digest('hex');
    fs.writeFileSync(keys, `admin ${sha('adm-key')}\nreader ${sha('read-key')}\n`);
    const s = await startServer({ env: { HYPERSPACE_API_KEYS_FILE: keys } });
    try {
      for (const kind of ['grpc', 'http']) {
        let e = await strictClient(kind, s).listCollections().catch((x) => x);
        assert.ok(e instanceof errors.UnauthenticatedError, String(e));
        assert.equal(e.message, 'Missing x-api-key header');
        e = await strictClient(kind, s, {}, 'wrong').listCollections().catch((x) => x);
        assert.ok(e instanceof errors.UnauthenticatedError);
        assert.equal(e.message, 'Invalid API Key');
        const adm = strictClient(kind, s, {}, 'adm-key');
        await adm.createCollection(`a_${kind}`, 2, 'l2');
        const reader = strictClient(kind, s, {}, 'read-key');
        assert.ok((await reader.listCollections()).includes(`a_${kind}`));
        e = await reader.insert(1, [1, 2], null, `a_${kind}`).catch((x) => x);
        assert.ok(e instanceof errors.PermissionDeniedError, String(e));
        assert.match(e.message, /reader/);
        adm.close();
        reader.close();
      }
    } finally {
      await s.finish();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a follower refuses writes', async () => {
    const s = await startServer({ args: ['--role', 'follower', '--leader', `127.0.0.1:${await freePort()}`] });
    try {
      for (const kind of ['grpc', 'http']) {
        const c = strictClient(kind, s);
        const e = await c.createCollection('f', 2, 'l2').catch((x) => x);
        assert.ok(e instanceof errors.FollowerReadOnlyError, String(e));
        assert.ok(e instanceof errors.FailedPreconditionError);
        assert.equal(e.status, 'FAILED_PRECONDITION');
        c.close();
      }
    } finally {
      await s.finish();
    }
  });

  test('a quarantined collection is an internal error', async () => {
    const s = await startServer({ env: { HS_CHECKPOINT_MIN_LOG_BYTES: '0' } }); // the stop checkpoints
    const c = new Client(s.grpcTarget);
    await c.createCollection('bad', 4, 'l2');
    await c.batchInsert(Array.from({ length: 50 }, (_, i) => [0, i, 1, 2]), Array.from({ length: 50 }, (_, i) => i), null, 'bad', 'strict');
    c.close();
    const r = await s.stop();
    assert.equal(r.code, 0);
    const found = [];
    for (const tenant of fs.readdirSync(s.dataDir)) {
      const t = path.join(s.dataDir, tenant);
      if (!fs.statSync(t).isDirectory()) continue;
      for (const bucket of fs.readdirSync(t)) { // collections live in bucket directories
        const d = path.join(t, bucket, 'bad');
        if (fs.existsSync(d)) for (const f of fs.readdirSync(d)) if (/^checkpoint-.*\.ckpt$/.test(f)) found.push(path.join(d, f));
      }
    }
    assert.equal(found.length, 1);
    fs.unlinkSync(found[0]);
    const s2 = await new Server({ dataDir: s.dataDir }).start();
    try {
      for (const kind of ['grpc', 'http']) {
        const e = await strictClient(kind, s2).search([0, 1, 1, 2], 10, 'bad').catch((x) => x);
        assert.ok(e instanceof errors.InternalError, String(e));
        assert.match(e.message, /bad/);
      }
    } finally {
      await s2.finish();
      await s.finish();
    }
  });
});

test('a program written for the v2.0.0 TypeScript SDK runs unchanged', async () => {
  const client = new HyperspaceClient(server.grpcTarget);
  await client.deleteCollection('v2prog'); // clean-up of a collection that may not exist
  assert.equal(await client.createCollection('v2prog', 8, 'cosine'), true);
  for (let i = 0; i < 10; i++) {
    const vec = new Float64Array([i + 1, 1, 1, 1, 1, 1, 1, 1]);
    assert.equal(await client.insert(i, vec, { i: String(i) }, 'v2prog', DurabilityLevel.DEFAULT_LEVEL), true);
  }
  const res = await client.search(new Float32Array([10, 1, 1, 1, 1, 1, 1, 1]), 3, 'v2prog');
  assert.equal(res[0].id, 9);
  assert.deepEqual(Object.keys(res[0]).sort(), ['distance', 'id', 'metadata']);
  assert.deepEqual(res[0].metadata, { i: '9' });
  const batch = await client.searchBatch([[1, 1, 1, 1, 1, 1, 1, 1]], 2, 'v2prog');
  assert.equal(batch[0].length, 2);
  assert.equal(await client.deleteCollection('v2prog'), true);
  client.close();
});
