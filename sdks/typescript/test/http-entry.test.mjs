// The browser entry `hyperspace-sdk-ts/http`: fetch only, no gRPC or Node module loaded;
// the same operations and errors over HTTP.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

import * as web from 'hyperspace-sdk-ts/http';
import { startServer } from './helpers/server.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server.finish(); });

test('the http entry loads no gRPC and no Node module of ours', () => {
  const require = createRequire(import.meta.url);
  const code = `
    const m = require('hyperspace-sdk-ts/http');
    const loaded = Object.keys(require.cache);
    console.log(JSON.stringify({
      grpc: loaded.filter((k) => k.includes('@grpc') || k.includes('protobufjs')).length,
      nodeOnly: loaded.filter((k) => /[\\\\/]dist[\\\\/](grpc|node-request|index)\\.js$/.test(k)).length,
      exports: ['HyperspaceClient', 'Client', 'HttpTransport', 'errors', 'DurabilityLevel'].filter((n) => !(n in m)),
    }));`;
  const out = JSON.parse(execFileSync(process.execPath, ['-e', code], { cwd: require.resolve('hyperspace-sdk-ts/package.json').replace(/package\.json$/, '') }).toString());
  assert.deepEqual(out, { grpc: 0, nodeOnly: 0, exports: [] });
});

test('every operation over fetch', async () => {
  let calls = 0;
  const counting = (...a) => { calls += 1; return fetch(...a); };
  const c = new web.Client(server.url, null, null, { fetch: counting });
  assert.equal(c.transport, 'http');
  await c.createCollection('web', 2, 'poincare', { quantization: 'none', m: 8, efConstruction: 50, efSearch: 40 });
  const st = await c.getCollectionStats('web');
  assert.deepEqual([st.m, st.ef_construction, st.ef_search, st.quantization], [8, 50, 40, 'none']);
  await c.insert(1, [0.1, 0.2], { name: 'root' }, 'web', web.DurabilityLevel.STRICT);
  await c.batchInsert([[0.5, 0.1], [-0.3, 0.4]], [2, 3], [{ name: 'dog' }, null], 'web');
  const hits = await c.search([0.48, 0.1], 2, 'web');
  assert.deepEqual(hits.map((h) => h.id), [2, 1]);
  assert.deepEqual(hits[0].metadata, { name: 'dog' });
  // the Poincaré distance, acosh(1 + 2|u-v|^2 / ((1-|u|^2)(1-|v|^2)))
  const [u, v] = [[0.48, 0.1], [0.5, 0.1]];
  const d2 = (u[0] - v[0]) ** 2 + (u[1] - v[1]) ** 2;
  const n = (p) => 1 - p[0] ** 2 - p[1] ** 2;
  assert.ok(Math.abs(hits[0].distance - Math.acosh(1 + 2 * d2 / (n(u) * n(v)))) < 1e-9);
  assert.deepEqual((await c.searchBatch([[0.5, 0.1], [-0.3, 0.4]], 1, 'web')).map((r) => r[0].id), [2, 3]);
  assert.equal((await c.getDigest('web')).count, 3);
  assert.equal(await c.configure(64, null, 'web'), true);
  assert.equal(await c.delete(3, 'web'), true);
  assert.deepEqual((await c.retrieve([3, 2], 'web', false)).map((p) => [p.id, 'vector' in p]), [[2, false]]);
  assert.equal(await c.rebuildIndex('web'), true);
  assert.equal(await c.triggerSnapshot(), true);
  assert.equal(await c.triggerVacuum(), true);
  assert.ok((await c.listCollections()).includes('web'));
  const e = await c.insert(9, [0.9, 0.9], null, 'web').catch((x) => x);
  assert.ok(e instanceof web.OutOfBallError && e instanceof web.errors.HyperspaceError);
  assert.equal(e.httpStatus, 400);
  assert.equal(await c.deleteCollection('web'), true);
  assert.equal(calls, 16); // every call went through the given fetch

  const lines = [];
  const compat = new web.HyperspaceClient(server.url.replace('http://', ''), null, null, { logger: { warn: (m) => lines.push(m) } });
  assert.equal(await compat.deleteCollection('web'), false);
  assert.deepEqual(await compat.search([0, 0], 10, 'web'), []);
  assert.equal(lines.length, 2);
});

test('HttpTransport can be used on its own', async () => {
  const t = new web.HttpTransport(server.url);
  assert.ok(await t.ping());
  assert.ok(Array.isArray(await t.listCollections()));
  const down = new web.HttpTransport('http://127.0.0.1:1');
  assert.equal(await down.ping(), false);
  await assert.rejects(down.listCollections(), web.UnavailableError);
});
