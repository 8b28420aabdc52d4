import type {
  BatchArgs, CanonicalFilter, CollectionStats, CreateCollectionOptions, Digest, Point, SearchArgs,
  SearchResult, SystemStats,
} from './types';

/** What a client needs from a wire: each operation with canonical arguments; failures are
 * thrown as `HyperspaceError` subclasses. Implemented by `GrpcTransport` (Node) and
 * `HttpTransport` (fetch: Node and browsers). */
export interface Transport {
  readonly kind: 'grpc' | 'http';
  /** The address it talks to (gRPC target or HTTP base URL). */
  readonly target: string;
  createCollection(name: string, dimension: number, metric: string, opts: CreateCollectionOptions): Promise<boolean>;
  deleteCollection(name: string): Promise<boolean>;
  listCollections(): Promise<string[]>;
  getCollectionStats(name: string): Promise<CollectionStats>;
  insert(collection: string, id: number, vector: number[], metadata: Record<string, string>, durability: number): Promise<boolean>;
  batchInsert(args: BatchArgs): Promise<boolean>;
  insertText(collection: string, id: number, text: string, metadata: Record<string, string>, durability: number): Promise<boolean>;
  delete(collection: string, id: number): Promise<boolean>;
  search(args: SearchArgs): Promise<SearchResult[]>;
  searchBatch(collection: string, vectors: number[][], topK: number, filter: Record<string, string>, filters: CanonicalFilter[]): Promise<SearchResult[][]>;
  getDigest(collection: string): Promise<Digest>;
  configure(collection: string, efSearch?: number, efConstruction?: number): Promise<boolean>;
  triggerSnapshot(): Promise<boolean>;
  triggerVacuum(): Promise<boolean>;
  rebuildIndex(name: string): Promise<boolean>;
  monitor(count?: number): AsyncIterable<SystemStats>;
  retrieve?(collection: string, ids: number[], withVector: boolean): Promise<Point[]>;
  close(): void;
}
