/**
 * The HTTP/JSON transport (docs/api/http.md) over the global `fetch`: works in Node >= 18 and
 * in browsers. No Node module is imported here.
 */
import {
  DeadlineExceededError, HyperspaceError, InvalidArgumentError, UnavailableError,
  UnimplementedError, fromHttp,
} from './errors';
import type { Transport } from './transport';
import {
  DURABILITY_TEXT, type BatchArgs, type CanonicalFilter, type CollectionStats,
  type CreateCollectionOptions, type Digest, type Point, type SearchArgs, type SearchResult,
  type SystemStats,
} from './types';

export interface HttpTransportOptions {
  apiKey?: string;
  userId?: string;
  /** Per-request timeout in milliseconds (none by default). */
  timeoutMs?: number;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch;
  /** Sends one request (default: fetch). The Node entry passes a node:http one. */
  request?: Requester;
}

export interface RequestInitLite {
  method: string;
  headers: Record<string, string>;
  body?: string;
  timeoutMs?: number;
}
export interface ResponseLite {
  status: number;
  text: string;
}
/** Sends one request; rejects on a network failure (name "TimeoutError" for a timeout). */
export type Requester = (url: string, init: RequestInitLite) => Promise<ResponseLite>;

/** The default requester: the global fetch (browsers, Node >= 18). */
export function fetchRequester(fetchImpl?: typeof fetch): Requester {
  const f = fetchImpl ?? (globalThis as { fetch?: typeof fetch }).fetch;
  if (!f) throw new TypeError('no fetch available: pass options.fetch');
  return async (url, init) => {
    const ri: RequestInit = { method: init.method, headers: init.headers, body: init.body };
    if (init.timeoutMs !== undefined) ri.signal = AbortSignal.timeout(init.timeoutMs);
    const resp = await f(url, ri);
    return { status: resp.status, text: await resp.text() };
  };
}

type Json = unknown;

export class HttpTransport implements Transport {
  readonly kind = 'http' as const;
  readonly target: string;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs?: number;
  private readonly send: Requester;

  constructor(baseUrl: string, options: HttpTransportOptions = {}) {
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(baseUrl)) baseUrl = 'http://' + baseUrl;
    if (!/^https?:\/\//i.test(baseUrl)) {
      throw new TypeError(`the HTTP transport needs an http:// or https:// address: ${baseUrl}`);
    }
    this.target = baseUrl.replace(/\/+$/, '');
    this.headers = {};
    if (options.apiKey) this.headers['x-api-key'] = options.apiKey;
    if (options.userId !== undefined && options.userId !== null) this.headers['x-hyperspace-user-id'] = options.userId;
    this.timeoutMs = options.timeoutMs;
    this.send = options.request ?? fetchRequester(options.fetch);
  }

  /** One request; the raw text of a successful answer (errors thrown as HyperspaceError). */
  async requestText(method: string, path: string, body: Json | undefined, what: string): Promise<string> {
    const headers: Record<string, string> = { ...this.headers };
    let data: string | undefined;
    if (body !== undefined) {
      data = JSON.stringify(body, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
      headers['Content-Type'] = 'application/json';
    }
    let resp: ResponseLite;
    try {
      resp = await this.send(this.target + path, { method, headers, body: data, timeoutMs: this.timeoutMs });
    } catch (e) {
      const err = e as { name?: string; code?: string; message?: string; cause?: { code?: string; message?: string } };
      if (err && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
        throw new DeadlineExceededError(`Deadline exceeded: ${err.message ?? err.name}`, { method: what });
      }
      const cause = err?.code ?? err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(e);
      throw new UnavailableError(`Cannot reach ${this.target}: ${cause}`, { method: what });
    }
    const text = resp.text;
    if (resp.status >= 400) {
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        /* not JSON: keep the text */
      }
      throw fromHttp(resp.status, parsed, what);
    }
    return text;
  }

  async request<T = unknown>(method: string, path: string, body: Json | undefined, what: string): Promise<T> {
    const text = await this.requestText(method, path, body, what);
    return (text ? JSON.parse(text) : null) as T;
  }

  private static seg(name: string): string {
    return encodeURIComponent(name || 'default');
  }

  private coll(name: string, rest = ''): string {
    return `/api/collections/${HttpTransport.seg(name)}${rest}`;
  }

  async createCollection(name: string, dimension: number, metric: string, opts: CreateCollectionOptions): Promise<boolean> {
    const body: Record<string, unknown> = { name, dimension, metric };
    if (opts.quantization) body.quantization = opts.quantization;
    if (opts.m) body.m = opts.m;
    if (opts.efConstruction) body.ef_construction = opts.efConstruction;
    if (opts.efSearch) body.ef_search = opts.efSearch;
    await this.request('POST', '/api/collections', body, 'CreateCollection');
    return true;
  }

  async deleteCollection(name: string): Promise<boolean> {
    if (!name) {
      throw new InvalidArgumentError('Collection name cannot be empty', { code: 'INVALID_NAME', method: 'DeleteCollection' });
    }
    await this.request('DELETE', this.coll(name), undefined, 'DeleteCollection');
    return true;
  }

  async listCollections(): Promise<string[]> {
    const r = await this.request<{ name: string }[]>('GET', '/api/collections', undefined, 'ListCollections');
    return r.map((c) => c.name);
  }

  async getCollectionStats(name: string): Promise<CollectionStats> {
    return this.request<CollectionStats>('GET', this.coll(name, '/stats'), undefined, 'GetCollectionStats');
  }

  async insert(collection: string, id: number, vector: number[], metadata: Record<string, string>, durability: number): Promise<boolean> {
    await this.request('POST', this.coll(collection, '/insert'),
      { id, vector, metadata, durability: DURABILITY_TEXT[durability] }, 'Insert');
    return true;
  }

  async batchInsert(a: BatchArgs): Promise<boolean> {
    const vectors = a.vectors.map((v, i) => {
      const item: Record<string, unknown> = { id: a.ids[i], vector: v };
      const md = a.metadatas?.[i];
      if (md && Object.keys(md).length) item.metadata = md;
      return item;
    });
    await this.request('POST', this.coll(a.collection, '/insert/batch'),
      { vectors, durability: DURABILITY_TEXT[a.durability] }, 'BatchInsert');
    return true;
  }

  async insertText(): Promise<boolean> {
    throw new UnimplementedError('InsertText is not available over HTTP', { method: 'InsertText' });
  }

  async delete(collection: string, id: number): Promise<boolean> {
    const r = await this.request<{ deleted: number }>('DELETE', this.coll(collection, `/points/${id}`), undefined, 'Delete');
    return Boolean(r.deleted);
  }

  private static searchBody(vector: number[], topK: number, filter: Record<string, string>,
    filters: CanonicalFilter[], hybridQuery?: string, hybridAlpha?: number): Record<string, unknown> {
    const body: Record<string, unknown> = { vector, top_k: topK };
    if (Object.keys(filter).length) body.filter = filter;
    if (filters.length) body.filters = filters;
    if (hybridQuery !== undefined) body.hybrid_query = hybridQuery;
    if (hybridAlpha !== undefined) body.hybrid_alpha = hybridAlpha;
    return body;
  }

  private static hit(h: SearchResult, hybrid: boolean): SearchResult {
    const out: SearchResult = { id: h.id, distance: Number(h.distance), metadata: h.metadata ?? {} };
    if (hybrid) out.score = h.score ?? 0;
    return out;
  }

  async search(a: SearchArgs): Promise<SearchResult[]> {
    const hits = await this.request<SearchResult[]>('POST', this.coll(a.collection, '/search'),
      HttpTransport.searchBody(a.vector, a.topK, a.filter, a.filters, a.hybridQuery, a.hybridAlpha), 'Search');
    return hits.map((h) => HttpTransport.hit(h, a.hybridQuery !== undefined));
  }

  async searchBatch(collection: string, vectors: number[][], topK: number, filter: Record<string, string>,
    filters: CanonicalFilter[]): Promise<SearchResult[][]> {
    const body = { searches: vectors.map((v) => HttpTransport.searchBody(v, topK, filter, filters)) };
    const res = await this.request<SearchResult[][]>('POST', this.coll(collection, '/search/batch'), body, 'SearchBatch');
    return res.map((hits) => hits.map((h) => HttpTransport.hit(h, false)));
  }

  async getDigest(collection: string): Promise<Digest> {
    // state_hash and buckets are 64-bit: read them from the text, not through JSON numbers
    const text = await this.requestText('GET', this.coll(collection, '/digest'), undefined, 'GetDigest');
    const r = JSON.parse(text) as { logical_clock: number; count: number; state_hash_hex?: string };
    const hash = /"state_hash"\s*:\s*(\d+)/.exec(text);
    const buckets = /"buckets"\s*:\s*\[([^\]]*)\]/.exec(text);
    return {
      logical_clock: r.logical_clock,
      state_hash: hash ? BigInt(hash[1]) : BigInt('0x' + (r.state_hash_hex ?? '0')),
      buckets: buckets && buckets[1].trim() ? buckets[1].split(',').map((s) => BigInt(s.trim())) : [],
      count: r.count,
    };
  }

  async configure(collection: string, efSearch?: number, efConstruction?: number): Promise<boolean> {
    const body: Record<string, number> = {};
    if (efSearch !== undefined) body.ef_search = efSearch;
    if (efConstruction !== undefined) body.ef_construction = efConstruction;
    await this.request('PATCH', this.coll(collection, '/config'), body, 'Configure');
    return true;
  }

  async triggerSnapshot(): Promise<boolean> {
    await this.request('POST', '/api/admin/snapshot', {}, 'TriggerSnapshot');
    return true;
  }

  async triggerVacuum(): Promise<boolean> {
    await this.request('POST', '/api/admin/vacuum', {}, 'TriggerVacuum');
    return true;
  }

  async rebuildIndex(name: string): Promise<boolean> {
    await this.request('POST', this.coll(name, '/rebuild'), {}, 'RebuildIndex');
    return true;
  }

  async retrieve(collection: string, ids: number[], withVector: boolean): Promise<Point[]> {
    const q = `?ids=${ids.join(',')}${withVector ? '' : '&with_vector=false'}`;
    return this.request<Point[]>('GET', this.coll(collection, '/points') + q, undefined, 'Retrieve');
  }

  // eslint-disable-next-line require-yield
  async *monitor(): AsyncIterable<SystemStats> {
    throw new UnimplementedError('Monitor is a gRPC stream; use the gRPC transport or GET /api/metrics', { method: 'Monitor' });
  }

  /** True when GET /healthz answers 200. */
  async ping(): Promise<boolean> {
    try {
      await this.request('GET', '/healthz', undefined, 'healthz');
      return true;
    } catch (e) {
      if (e instanceof HyperspaceError) return false;
      throw e;
    }
  }

  close(): void {
    (this.send as { close?: () => void }).close?.();
  }
}
