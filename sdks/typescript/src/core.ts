/**
 * The client logic shared by the Node entry (gRPC or HTTP) and the browser entry (HTTP only):
 * argument handling, the v2.0.0 return conventions, typed errors, upload.
 */
import { HyperspaceError, isTransient } from './errors';
import { HttpTransport } from './http';
import type { Transport } from './transport';
import {
  DurabilityLevel, toDurability, toFilters, toId, toMatrix, toMetadata, toVector,
  type CollectionStats, type CreateCollectionOptions, type Digest, type Durability, type Metadata,
  type Point, type SearchBatchOptions, type SearchOptions, type SearchResult, type SystemStats,
  type Vector,
} from './types';

/** Encodes text into a vector on the client (`insert(id, "text")`, `search("text")`). */
export interface Embedder {
  encode(text: string): Vector | Promise<Vector>;
}

export interface Logger {
  warn(message: string): void;
}

export interface CoreOptions {
  /** false (HyperspaceClient's default): a failed call resolves to false / [] / {} and logs a
   * warning; true: it rejects with a typed error. */
  raiseErrors?: boolean;
  /** Per-call timeout in milliseconds (none by default). */
  timeoutMs?: number;
  /** The HTTP address used by `retrieve` on a gRPC client (default: the gRPC host, port 50050). */
  httpUrl?: string;
  embedder?: Embedder;
  /** Where warnings go (default: console). */
  logger?: Logger;
  /** A fetch implementation for the HTTP transport (default: the global one). */
  fetch?: typeof fetch;
}

export interface UploadOptions {
  /** Points per BatchInsert (default 1000). */
  batchSize?: number;
  /** Batches in flight at once (default 2). */
  parallel?: number;
  durability?: Durability;
  /** Retries per batch of transient failures (UNAVAILABLE, DEADLINE_EXCEEDED); default 3. */
  maxRetries?: number;
  /** First retry delay in ms, doubled each retry, with jitter (default 500). */
  retryDelayMs?: number;
  /** Called after each batch with the points written so far and the total. */
  onProgress?: (done: number, total: number) => void;
}

export const DEFAULT_HTTP_PORT = 50050;

const FAIL: Record<string, () => unknown> = {
  createCollection: () => false, deleteCollection: () => false, listCollections: () => [],
  getCollectionStats: () => ({}), insert: () => false, batchInsert: () => false,
  insertText: () => false, delete: () => false, search: () => [], searchBatch: () => [],
  getDigest: () => ({}), configure: () => false, triggerSnapshot: () => false,
  triggerVacuum: () => false, rebuildIndex: () => false, retrieve: () => [], upload: () => false,
};

/** The HTTP address beside a gRPC target: same host, port 50050 (the server's default). */
export function defaultHttpUrl(target: string): string {
  let host = target;
  if (target.startsWith('[')) host = target.slice(0, target.indexOf(']') + 1);
  else if (target.split(':').length === 2) host = target.split(':')[0];
  return `http://${host}:${DEFAULT_HTTP_PORT}`;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class ClientCore {
  readonly raiseErrors: boolean;
  embedder?: Embedder;
  protected _transport: Transport;
  protected _pending?: Promise<void>;
  private _http?: HttpTransport;
  protected readonly _options: CoreOptions & { apiKey?: string; userId?: string };
  private readonly logger: Logger;

  constructor(transport: Transport, options: CoreOptions & { apiKey?: string; userId?: string } = {}) {
    this._transport = transport;
    this._options = options;
    this.raiseErrors = options.raiseErrors ?? false;
    this.embedder = options.embedder;
    this.logger = options.logger ?? console;
    if (transport instanceof HttpTransport) this._http = transport;
  }

  /** "grpc" or "http": the transport in use. */
  get transport(): 'grpc' | 'http' {
    return this._transport.kind;
  }

  /** Resolves once the transport is chosen (only `transport: "auto"` has to wait). */
  async connect(): Promise<this> {
    if (this._pending) await this._pending;
    return this;
  }

  protected fail<T>(op: string, err: unknown): T {
    if (this.raiseErrors || !(err instanceof HyperspaceError)) throw err;
    const details = Object.keys(err.details).length ? ' ' + JSON.stringify(err.details) : '';
    this.logger.warn(`hyperspace ${op} failed: ${err.code} ${err.message}${details}`);
    return FAIL[op]() as T;
  }

  protected async run<T>(op: string, fn: (t: Transport) => Promise<T>): Promise<T> {
    try {
      if (this._pending) await this._pending;
      return await fn(this._transport);
    } catch (e) {
      return this.fail<T>(op, e);
    }
  }

  private async embed(text: string): Promise<number[]> {
    if (!this.embedder) {
      throw new TypeError('text given but the client has no embedder (options.embedder)');
    }
    return toVector(await this.embedder.encode(text));
  }

  private httpTransport(): HttpTransport {
    if (!this._http) {
      const url = this._options.httpUrl ?? defaultHttpUrl(this._transport.target);
      this._http = new HttpTransport(url, {
        apiKey: this._options.apiKey, userId: this._options.userId,
        timeoutMs: this._options.timeoutMs, fetch: this._options.fetch,
      });
    }
    return this._http;
  }

  close(): void {
    this._transport.close();
    if (this._http && this._http !== this._transport) this._http.close();
  }

  // ---- collections

  /** Creates a collection; true on success. */
  createCollection(name: string, dimension: number, metric: string, options: CreateCollectionOptions = {}): Promise<boolean> {
    return this.run('createCollection', (t) => t.createCollection(name, dimension, metric, options));
  }

  /** Drops a collection and its files; true on success (false when it does not exist). */
  deleteCollection(name: string): Promise<boolean> {
    return this.run('deleteCollection', (t) => t.deleteCollection(name));
  }

  /** The tenant's collection names, sorted. */
  listCollections(): Promise<string[]> {
    return this.run('listCollections', (t) => t.listCollections());
  }

  /** {count, dimension, metric, indexing_queue, quantization, deleted_count, memory_bytes,
   * loaded, m, ef_construction, ef_search}; {} on failure (unless errors are raised). */
  getCollectionStats(name: string): Promise<Partial<CollectionStats>> {
    return this.run('getCollectionStats', (t) => t.getCollectionStats(name));
  }

  /** {logical_clock, state_hash, buckets (256), count}; {} on failure. */
  getDigest(collection = ''): Promise<Partial<Digest>> {
    return this.run('getDigest', (t) => t.getDigest(collection));
  }

  /** Sets ef_search / ef_construction (either or both). */
  configure(efSearch?: number | null, efConstruction?: number | null, collection = ''): Promise<boolean> {
    return this.run('configure', (t) => t.configure(collection, efSearch ?? undefined, efConstruction ?? undefined));
  }

  /** Compacts deleted and replaced slots and rebuilds the graph. */
  rebuildIndex(collection: string): Promise<boolean> {
    return this.run('rebuildIndex', (t) => t.rebuildIndex(collection));
  }

  triggerSnapshot(): Promise<boolean> {
    return this.run('triggerSnapshot', (t) => t.triggerSnapshot());
  }

  triggerVacuum(): Promise<boolean> {
    return this.run('triggerVacuum', (t) => t.triggerVacuum());
  }

  // ---- points

  /** Upserts one point. `vector` may be numbers, a typed array, or text for the embedder. */
  async insert(id: number, vector: Vector | string, meta?: Metadata | null, collection = '',
    durability: Durability = DurabilityLevel.DEFAULT_LEVEL): Promise<boolean> {
    const pid = toId(id);
    const vec = typeof vector === 'string' ? await this.embed(vector) : toVector(vector);
    const md = toMetadata(meta);
    const dur = toDurability(durability);
    return this.run('insert', (t) => t.insert(collection, pid, vec, md, dur));
  }

  /** Upserts a batch atomically (all or nothing). */
  async batchInsert(vectors: Iterable<Vector>, ids: Iterable<number>, metadatas?: (Metadata | null | undefined)[] | null,
    collection = '', durability: Durability = DurabilityLevel.DEFAULT_LEVEL): Promise<boolean> {
    const vecs = toMatrix(vectors);
    const pids = Array.from(ids, toId);
    if (vecs.length !== pids.length) {
      throw new RangeError(`vectors and ids differ in length (${vecs.length}, ${pids.length})`);
    }
    let mds: Record<string, string>[] | undefined;
    if (metadatas !== undefined && metadatas !== null) {
      mds = Array.from(metadatas, toMetadata);
      if (mds.length !== pids.length) {
        throw new RangeError(`metadatas and ids differ in length (${mds.length}, ${pids.length})`);
      }
    }
    const dur = toDurability(durability);
    return this.run('batchInsert', (t) => t.batchInsert({ collection, vectors: vecs, ids: pids, metadatas: mds, durability: dur }));
  }

  /** Server-side embedding (InsertText); this server answers UNIMPLEMENTED. */
  insertText(id: number, text: string, meta?: Metadata | null, collection = '',
    durability: Durability = DurabilityLevel.DEFAULT_LEVEL): Promise<boolean> {
    const pid = toId(id);
    const md = toMetadata(meta);
    const dur = toDurability(durability);
    return this.run('insertText', (t) => t.insertText(collection, pid, text, md, dur));
  }

  /** Deletes one point; true when it was live. */
  delete(id: number, collection = ''): Promise<boolean> {
    const pid = toId(id);
    return this.run('delete', (t) => t.delete(collection, pid));
  }

  /** The topK nearest points, best first: [{id, distance, metadata}] (and `score` when hybrid).
   * `vector` may be text for the embedder; then hybridAlpha alone makes it the hybrid query. */
  async search(vector: Vector | string, topK = 10, collection = '', options: SearchOptions = {}): Promise<SearchResult[]> {
    const text = typeof vector === 'string' ? vector : undefined;
    const vec = text !== undefined ? await this.embed(text) : toVector(vector);
    let hybridQuery = options.hybridQuery;
    if (hybridQuery === undefined && options.hybridAlpha !== undefined && text !== undefined) hybridQuery = text;
    const args = {
      collection, vector: vec, topK, filter: toMetadata(options.filter), filters: toFilters(options.filters),
      hybridQuery, hybridAlpha: options.hybridAlpha,
    };
    return this.run('search', (t) => t.search(args));
  }

  /** One result list per query vector, in order. */
  searchBatch(vectors: Iterable<Vector>, topK = 10, collection = '', options: SearchBatchOptions = {}): Promise<SearchResult[][]> {
    const vecs = toMatrix(vectors);
    const filter = toMetadata(options.filter);
    const filters = toFilters(options.filters);
    return this.run('searchBatch', (t) => t.searchBatch(collection, vecs, topK, filter, filters));
  }

  /** The live points among `ids`, in that order: [{id, vector, metadata}] (over HTTP). */
  async retrieve(ids: Iterable<number>, collection = '', withVector = true): Promise<Point[]> {
    const pids = Array.from(ids, toId);
    try {
      if (this._pending) await this._pending;
      return await this.httpTransport().retrieve(collection, pids, withVector);
    } catch (e) {
      return this.fail('retrieve', e);
    }
  }

  /** SystemStats once a second (gRPC Monitor stream); stops after `count` when given. */
  async *monitor(count?: number): AsyncGenerator<SystemStats> {
    try {
      if (this._pending) await this._pending;
      yield* this._transport.monitor(count);
    } catch (e) {
      if (this.raiseErrors || !(e instanceof HyperspaceError)) throw e;
      this.logger.warn(`hyperspace monitor failed: ${e.code} ${e.message}`);
    }
  }

  /**
   * Upserts many points in batches of `batchSize` with `parallel` batches in flight.
   * ids default to 0..n-1. Transient failures (UNAVAILABLE, DEADLINE_EXCEEDED) are retried up
   * to `maxRetries` times per batch with exponential back-off (a batch is an idempotent upsert).
   * Returns the number of points written (false on failure unless errors are raised).
   */
  async upload(collection: string, vectors: ArrayLike<Vector> & Iterable<Vector>, ids?: ArrayLike<number> | null,
    metadata?: ArrayLike<Metadata | null | undefined> | null, options: UploadOptions = {}): Promise<number | false> {
    const n = vectors.length;
    const batchSize = options.batchSize ?? 1000;
    const parallel = Math.max(1, options.parallel ?? 2);
    const maxRetries = options.maxRetries ?? 3;
    const retryDelay = options.retryDelayMs ?? 500;
    if (!(batchSize >= 1)) throw new RangeError('batchSize must be >= 1');
    if (ids && ids.length !== n) throw new RangeError(`vectors and ids differ in length (${n}, ${ids.length})`);
    if (metadata && metadata.length !== n) throw new RangeError(`vectors and metadata differ in length (${n}, ${metadata.length})`);
    const dur = toDurability(options.durability);
    const spans: [number, number][] = [];
    for (let s = 0; s < n; s += batchSize) spans.push([s, Math.min(n, s + batchSize)]);
    let next = 0;
    let done = 0;
    let failed: unknown;

    const one = async (s: number, e: number): Promise<void> => {
      const vecs: number[][] = [];
      const pids: number[] = [];
      const mds: Record<string, string>[] | undefined = metadata ? [] : undefined;
      for (let i = s; i < e; i++) {
        vecs.push(toVector(vectors[i]));
        pids.push(toId(ids ? ids[i] : i));
        if (mds && metadata) mds.push(toMetadata(metadata[i]));
      }
      const args = { collection, vectors: vecs, ids: pids, metadatas: mds, durability: dur };
      for (let attempt = 0; ; attempt++) {
        try {
          await this._transport.batchInsert(args);
          return;
        } catch (err) {
          if (!isTransient(err) || attempt >= maxRetries || failed !== undefined) throw err;
          await sleep(retryDelay * 2 ** attempt * (0.5 + Math.random()));
        }
      }
    };

    const worker = async (): Promise<void> => {
      while (failed === undefined && next < spans.length) {
        const [s, e] = spans[next++];
        try {
          await one(s, e);
        } catch (err) {
          if (failed === undefined) failed = err;
          return;
        }
        done += e - s;
        options.onProgress?.(done, n);
      }
    };

    if (this._pending) await this._pending;
    await Promise.all(Array.from({ length: Math.min(parallel, Math.max(1, spans.length)) }, worker));
    if (failed !== undefined) return this.fail('upload', failed);
    return done;
  }
}
