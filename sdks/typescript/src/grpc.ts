/**
 * The gRPC transport (Node): @grpc/grpc-js with the service loaded at run time from
 * proto/hyperspace.proto by @grpc/proto-loader (no generated code).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

import { HyperspaceError, fromGrpc } from './errors';
import type { Transport } from './transport';
import type {
  BatchArgs, CanonicalFilter, CollectionStats, CreateCollectionOptions, Digest, SearchArgs,
  SearchResult, SystemStats,
} from './types';

export const MAX_MESSAGE = 64 * 1024 * 1024;

export interface GrpcTransportOptions {
  apiKey?: string;
  userId?: string;
  /** Per-call deadline in milliseconds (none by default). */
  timeoutMs?: number;
  /** Extra channel options, e.g. { 'grpc.max_receive_message_length': 1000 }. */
  grpcOptions?: grpc.ChannelOptions;
  /** The .proto to load (default: the package's proto/hyperspace.proto). */
  protoPath?: string;
}

/** Where the proto is: the copy in this package (made by the build), else the repository's. */
export function defaultProtoPath(): string {
  const candidates = [
    path.join(__dirname, '..', 'proto', 'hyperspace.proto'),
    path.join(__dirname, '..', '..', '..', 'proto', 'hyperspace.proto'),
  ];
  for (const p of candidates) if (fs.existsSync(p)) return p;
  throw new Error(`hyperspace.proto not found (looked in ${candidates.join(', ')})`);
}

type Callback = (err: grpc.ServiceError | null, resp: any) => void; // eslint-disable-line @typescript-eslint/no-explicit-any
type Unary = (req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: Callback) => grpc.ClientUnaryCall;
interface DatabaseClient extends grpc.Client {
  [rpc: string]: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

const loaded = new Map<string, grpc.ServiceClientConstructor>();

function serviceCtor(protoPath: string): grpc.ServiceClientConstructor {
  let ctor = loaded.get(protoPath);
  if (!ctor) {
    const def = protoLoader.loadSync(protoPath, {
      keepCase: true, longs: String, enums: Number, defaults: true, oneofs: true,
    });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { hyperspace: { Database: grpc.ServiceClientConstructor } };
    ctor = pkg.hyperspace.Database;
    loaded.set(protoPath, ctor);
  }
  return ctor;
}

function statusName(code: number | undefined): string {
  if (code === undefined) return 'UNKNOWN';
  return (grpc.status as unknown as Record<number, string>)[code] ?? 'UNKNOWN';
}

function toError(e: unknown, rpc: string): HyperspaceError {
  const err = e as Partial<grpc.ServiceError>;
  return fromGrpc(statusName(err.code), err.details ?? err.message ?? '', rpc);
}

const num = (v: unknown): number => Number(v);

function hit(r: { id: number; distance: number; metadata: Record<string, string>; score: number }, hybrid: boolean): SearchResult {
  const out: SearchResult = { id: r.id, distance: r.distance, metadata: { ...r.metadata } };
  if (hybrid) out.score = r.score;
  return out;
}

function searchRequest(collection: string, vector: number[], topK: number, filter: Record<string, string>,
  filters: CanonicalFilter[], hybridQuery?: string, hybridAlpha?: number): Record<string, unknown> {
  const req: Record<string, unknown> = {
    collection, vector, top_k: topK, filter,
    filters: filters.map((f) => (f.type === 'match'
      ? { match: { key: f.key, value: f.value } }
      : { range: { key: f.key, ...(f.gte !== undefined ? { gte: f.gte } : {}), ...(f.lte !== undefined ? { lte: f.lte } : {}) } })),
  };
  if (hybridQuery !== undefined) req.hybrid_query = hybridQuery;
  if (hybridAlpha !== undefined) req.hybrid_alpha = hybridAlpha;
  return req;
}

export class GrpcTransport implements Transport {
  readonly kind = 'grpc' as const;
  readonly target: string;
  private readonly client: DatabaseClient;
  private readonly md: grpc.Metadata;
  private readonly timeoutMs?: number;

  constructor(target: string, options: GrpcTransportOptions = {}) {
    this.target = target;
    const Ctor = serviceCtor(options.protoPath ?? defaultProtoPath());
    this.client = new Ctor(target, grpc.credentials.createInsecure(), {
      'grpc.max_send_message_length': MAX_MESSAGE,
      'grpc.max_receive_message_length': MAX_MESSAGE,
      'grpc.keepalive_time_ms': 10000,
      ...(options.grpcOptions ?? {}),
    }) as DatabaseClient;
    this.md = new grpc.Metadata();
    if (options.apiKey) this.md.set('x-api-key', options.apiKey);
    if (options.userId !== undefined && options.userId !== null) this.md.set('x-hyperspace-user-id', options.userId);
    this.timeoutMs = options.timeoutMs;
  }

  /** One unary call; the response object (errors thrown as HyperspaceError). */
  call<T = any>(rpc: string, req: object): Promise<T> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const opts: grpc.CallOptions = {};
    if (this.timeoutMs !== undefined) opts.deadline = new Date(Date.now() + this.timeoutMs);
    const fn = this.client[rpc] as Unary;
    return new Promise<T>((resolve, reject) => {
      fn.call(this.client, req, this.md, opts, (err, resp) => {
        if (err) reject(toError(err, rpc));
        else resolve(resp as T);
      });
    });
  }

  /** Resolves true once the channel is connected, false after timeoutMs. */
  waitReady(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      this.client.waitForReady(new Date(Date.now() + timeoutMs), (err?: Error) => resolve(!err));
    });
  }

  async createCollection(name: string, dimension: number, metric: string, o: CreateCollectionOptions): Promise<boolean> {
    await this.call('CreateCollection', {
      name, dimension, metric, quantization: o.quantization ?? '', m: o.m ?? 0,
      ef_construction: o.efConstruction ?? 0, ef_search: o.efSearch ?? 0,
    });
    return true;
  }

  async deleteCollection(name: string): Promise<boolean> {
    await this.call('DeleteCollection', { name });
    return true;
  }

  async listCollections(): Promise<string[]> {
    const r = await this.call<{ collections: string[] }>('ListCollections', {});
    return [...r.collections];
  }

  async getCollectionStats(name: string): Promise<CollectionStats> {
    const r = await this.call('GetCollectionStats', { name });
    return {
      count: num(r.count), dimension: r.dimension, metric: r.metric,
      indexing_queue: num(r.indexing_queue), quantization: r.quantization,
      deleted_count: num(r.deleted_count), memory_bytes: num(r.memory_bytes), loaded: r.loaded,
      m: r.m, ef_construction: r.ef_construction, ef_search: r.ef_search,
    };
  }

  async insert(collection: string, id: number, vector: number[], metadata: Record<string, string>, durability: number): Promise<boolean> {
    const r = await this.call('Insert', { collection, id, vector, metadata, durability });
    return Boolean(r.success);
  }

  async batchInsert(a: BatchArgs): Promise<boolean> {
    const vectors = a.vectors.map((v, i) => ({ id: a.ids[i], vector: v, metadata: a.metadatas?.[i] ?? {} }));
    const r = await this.call('BatchInsert', { collection: a.collection, vectors, durability: a.durability });
    return Boolean(r.success);
  }

  async insertText(collection: string, id: number, text: string, metadata: Record<string, string>, durability: number): Promise<boolean> {
    const r = await this.call('InsertText', { collection, id, text, metadata, durability });
    return Boolean(r.success);
  }

  async delete(collection: string, id: number): Promise<boolean> {
    const r = await this.call('Delete', { collection, id });
    return Boolean(r.success);
  }

  async search(a: SearchArgs): Promise<SearchResult[]> {
    const r = await this.call('Search', searchRequest(a.collection, a.vector, a.topK, a.filter, a.filters, a.hybridQuery, a.hybridAlpha));
    const hybrid = a.hybridQuery !== undefined;
    return r.results.map((x: Parameters<typeof hit>[0]) => hit(x, hybrid));
  }

  async searchBatch(collection: string, vectors: number[][], topK: number, filter: Record<string, string>,
    filters: CanonicalFilter[]): Promise<SearchResult[][]> {
    const r = await this.call('SearchBatch', { searches: vectors.map((v) => searchRequest(collection, v, topK, filter, filters)) });
    return r.responses.map((s: { results: Parameters<typeof hit>[0][] }) => s.results.map((x) => hit(x, false)));
  }

  async getDigest(collection: string): Promise<Digest> {
    const r = await this.call('GetDigest', { collection });
    return {
      logical_clock: num(r.logical_clock), state_hash: BigInt(r.state_hash),
      buckets: (r.buckets as string[]).map((b) => BigInt(b)), count: num(r.count),
    };
  }

  async configure(collection: string, efSearch?: number, efConstruction?: number): Promise<boolean> {
    const req: Record<string, unknown> = { collection };
    if (efSearch !== undefined) req.ef_search = efSearch;
    if (efConstruction !== undefined) req.ef_construction = efConstruction;
    await this.call('Configure', req);
    return true;
  }

  async triggerSnapshot(): Promise<boolean> {
    await this.call('TriggerSnapshot', {});
    return true;
  }

  async triggerVacuum(): Promise<boolean> {
    await this.call('TriggerVacuum', {});
    return true;
  }

  async rebuildIndex(name: string): Promise<boolean> {
    await this.call('RebuildIndex', { name });
    return true;
  }

  /** SystemStats once a second until `count` were read (or forever), then cancels. */
  async *monitor(count?: number): AsyncIterable<SystemStats> {
    const stream = this.client.Monitor({}, this.md) as grpc.ClientReadableStream<Record<string, unknown>>;
    let n = 0;
    try {
      for await (const s of stream) {
        yield {
          total_collections: num(s.total_collections), total_vectors: num(s.total_vectors),
          total_memory_mb: num(s.total_memory_mb), qps: num(s.qps),
        };
        n += 1;
        if (count !== undefined && n >= count) break;
      }
    } catch (e) {
      if ((e as grpc.ServiceError).code !== grpc.status.CANCELLED) throw toError(e, 'Monitor');
    } finally {
      stream.cancel();
    }
  }

  close(): void {
    this.client.close();
  }
}
