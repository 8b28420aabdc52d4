// Code written for the v2.0.0 TypeScript SDK (npm hyperspace-sdk-ts: HyperspaceClient,
// DurabilityLevel; vectors as number[] | Float32Array | Float64Array) must type-check
// unchanged against this package: `npm run build` compiles this file (no emit). The same
// calls run against a server in client.test.mjs.
import { DurabilityLevel, HyperspaceClient } from 'hyperspace-sdk-ts';
import { Client, errors, type CollectionStats, type SearchResult } from 'hyperspace-sdk-ts';
import * as web from 'hyperspace-sdk-ts/http';

export async function v2Program(): Promise<void> {
  const client = new HyperspaceClient('localhost:50051', 'api-key', 'tenant');
  const ok: boolean = await client.createCollection('docs', 8, 'cosine');
  await client.insert(1, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], { k: 'v' });
  await client.insert(2, new Float32Array(8), { k: 'v' }, 'docs', DurabilityLevel.STRICT);
  await client.insert(3, new Float64Array(8), undefined, 'docs');
  const hits: { id: number; distance: number; metadata: Record<string, string> }[] =
    await client.search([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], 5, 'docs');
  const batch: SearchResult[][] = await client.searchBatch([new Float32Array(8)], 3);
  const gone: boolean = await client.deleteCollection('docs');
  client.close();
  void ok; void hits; void batch; void gone;
}

export async function newProgram(): Promise<void> {
  const db = new Client('localhost:50051');
  const stats: CollectionStats = await db.getCollectionStats('docs');
  const n: number = await db.upload('docs', [[1, 2]], [1], [{ a: 1 }], { batchSize: 10, onProgress: (d, t) => void [d, t] });
  const hits = await db.search([1, 2], 3, 'docs', {
    filter: { lang: 'en' }, filters: [{ type: 'range', key: 'price', lte: 10 }, { match: { key: 'a', value: 'b' } }],
    hybridQuery: 'apple', hybridAlpha: 0.5,
  });
  const h: bigint = (await db.getDigest('docs')).state_hash;
  try {
    await db.insert(1, [1], null, 'docs');
  } catch (e) {
    if (e instanceof errors.DimensionMismatchError) void (e.details.expected as number);
  }
  const w = new web.Client('http://localhost:50050');
  const names: string[] = await w.listCollections();
  void stats; void n; void hits; void h; void names;
}
