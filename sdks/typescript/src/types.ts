/** Shared types and argument normalisation (no Node or browser dependency). */

/** A vector: plain numbers or a typed array. */
export type Vector = number[] | ReadonlyArray<number> | Float32Array | Float64Array;

/** Metadata: string values; numbers and booleans are sent as text (like the HTTP API). */
export type Metadata = Record<string, string | number | boolean>;

/** Write durability (DurabilityLevel in the proto). */
export enum DurabilityLevel {
  DEFAULT_LEVEL = 0,
  ASYNC = 1,
  BATCH = 2,
  STRICT = 3,
}
export type Durability = DurabilityLevel | 0 | 1 | 2 | 3 | 'default' | 'async' | 'batch' | 'strict';

/** The v2.0.0 filter objects: `{type:'match', key, value}` / `{type:'range', key, gte?, lte?}`
 * (also the protobuf-JSON forms `{match:{key,value}}` / `{range:{key,gte,lte}}`). */
export type Filter =
  | { type: 'match'; key: string; value: string | number | boolean }
  | { type: 'range'; key: string; gte?: number | bigint | string | null; lte?: number | bigint | string | null }
  | { match: { key: string; value: string | number | boolean } }
  | { range: { key: string; gte?: number | bigint | string | null; lte?: number | bigint | string | null } };

export interface SearchResult {
  id: number;
  distance: number;
  metadata: Record<string, string>;
  /** The fused hybrid score (hybrid searches only). */
  score?: number;
}

export interface CollectionStats {
  count: number;
  dimension: number;
  metric: string;
  indexing_queue: number;
  quantization: string;
  deleted_count: number;
  memory_bytes: number;
  loaded: boolean;
  m: number;
  ef_construction: number;
  ef_search: number;
}

/** The collection digest. `state_hash` and `buckets` are 64-bit hashes: bigint, exact. */
export interface Digest {
  logical_clock: number;
  state_hash: bigint;
  buckets: bigint[];
  count: number;
}

export interface SystemStats {
  total_collections: number;
  total_vectors: number;
  total_memory_mb: number;
  qps: number;
}

export interface Point {
  id: number;
  vector?: number[];
  metadata: Record<string, string>;
}

export interface CreateCollectionOptions {
  /** "none" | "scalar" | "binary"; default: the server's. */
  quantization?: string;
  m?: number;
  efConstruction?: number;
  efSearch?: number;
}

export interface SearchOptions {
  /** Exact matches on metadata values. */
  filter?: Metadata;
  /** Match / range conditions, ANDed. */
  filters?: Filter[];
  /** Keyword side of a hybrid search (BM25 over the metadata values). */
  hybridQuery?: string;
  /** Weight of the keyword side, 0..1 (server default 0.5). */
  hybridAlpha?: number;
}

export interface SearchBatchOptions {
  filter?: Metadata;
  filters?: Filter[];
}

/** Canonical search request (what the transports send). */
export interface SearchArgs {
  collection: string;
  vector: number[];
  topK: number;
  filter: Record<string, string>;
  filters: CanonicalFilter[];
  hybridQuery?: string;
  hybridAlpha?: number;
}

export type CanonicalFilter =
  | { type: 'match'; key: string; value: string }
  | { type: 'range'; key: string; gte?: string; lte?: string };

export interface BatchArgs {
  collection: string;
  vectors: number[][];
  ids: number[];
  metadatas?: Record<string, string>[];
  durability: number;
}

const DURABILITY_NAMES: Record<string, number> = { default: 0, async: 1, batch: 2, strict: 3 };
export const DURABILITY_TEXT = ['default', 'async', 'batch', 'strict'];

export function toVector(v: unknown): number[] {
  if (v === null || v === undefined) throw new TypeError('a vector is required');
  if (typeof v === 'string') throw new TypeError('a vector must be numbers, got a string');
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
    return Array.from(v as unknown as ArrayLike<number>, Number);
  }
  if (Array.isArray(v)) {
    if (v.length > 0 && Array.isArray(v[0])) throw new TypeError('a vector must be 1-D');
    return v.map(Number);
  }
  if (typeof (v as Iterable<number>)[Symbol.iterator] === 'function') {
    return Array.from(v as Iterable<number>, Number);
  }
  throw new TypeError(`a vector must be an array of numbers, got ${typeof v}`);
}

export function toMatrix(vs: unknown): number[][] {
  if (!Array.isArray(vs)) {
    if (vs && typeof (vs as Iterable<unknown>)[Symbol.iterator] === 'function') vs = Array.from(vs as Iterable<unknown>);
    else throw new TypeError('vectors must be an array of vectors');
  }
  return (vs as unknown[]).map(toVector);
}

export function toId(id: unknown): number {
  const n = typeof id === 'bigint' ? Number(id) : Number(id);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new RangeError(`ids must be integers between 0 and 4294967295, got ${String(id)}`);
  }
  return n;
}

export function toMetadata(md: unknown): Record<string, string> {
  if (md === null || md === undefined) return {};
  if (typeof md !== 'object' || Array.isArray(md)) {
    throw new TypeError(`metadata must be an object of strings, got ${Array.isArray(md) ? 'array' : typeof md}`);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(md as Record<string, unknown>)) {
    if (typeof v === 'string') out[k] = v;
    else if (typeof v === 'boolean') out[k] = v ? 'true' : 'false';
    else if (typeof v === 'number' || typeof v === 'bigint') out[k] = String(v);
    else throw new TypeError(`metadata value of '${k}' must be a string, number or boolean`);
  }
  return out;
}

export function toDurability(d: unknown): number {
  if (d === undefined || d === null) return 0;
  if (typeof d === 'string') {
    const n = DURABILITY_NAMES[d.toLowerCase()];
    if (n === undefined) throw new RangeError(`durability must be default, async, batch or strict, got '${d}'`);
    return n;
  }
  const n = Number(d);
  if (!Number.isInteger(n) || n < 0 || n > 3) throw new RangeError(`durability must be 0..3, got ${String(d)}`);
  return n;
}

function bound(v: unknown, what: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number' && Number.isInteger(v)) return String(v);
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return v;
  throw new TypeError(`range bound '${what}' must be an integer, got ${String(v)}`);
}

export function toFilters(filters: unknown): CanonicalFilter[] {
  if (filters === undefined || filters === null) return [];
  if (!Array.isArray(filters)) throw new TypeError('filters must be an array');
  return filters.map((f0: unknown) => {
    let f = f0 as Record<string, unknown>;
    if (f && typeof f.match === 'object' && f.match) f = { ...(f.match as object), type: 'match' };
    else if (f && typeof f.range === 'object' && f.range) f = { ...(f.range as object), type: 'range' };
    if (f && f.type === 'match') {
      return { type: 'match', key: String(f.key), value: String(f.value) } as CanonicalFilter;
    }
    if (f && f.type === 'range') {
      const r: CanonicalFilter = { type: 'range', key: String(f.key) };
      const gte = bound(f.gte, 'gte');
      const lte = bound(f.lte, 'lte');
      if (gte !== undefined) r.gte = gte;
      if (lte !== undefined) r.lte = lte;
      return r;
    }
    throw new TypeError(`a filter needs type 'match' or 'range': ${JSON.stringify(f0)}`);
  });
}
