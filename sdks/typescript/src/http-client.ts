/**
 * The browser entry (`hyperspace-sdk-ts/http`): the same clients over HTTP/JSON with `fetch`
 * only, no Node module and no gRPC. Works in Node >= 18 too.
 *
 *   import { Client } from 'hyperspace-sdk-ts/http';
 *   const db = new Client('http://localhost:50050');
 */
import { ClientCore, type CoreOptions, type UploadOptions } from './core';
import { HttpTransport } from './http';
import type { CollectionStats, Digest, Metadata, Vector } from './types';
import * as errors from './errors';

export * from './types';
export * from './errors';
export { errors };
export { ClientCore } from './core';
export type { CoreOptions, Embedder, Logger, UploadOptions } from './core';
export type { Transport } from './transport';
export { HttpTransport, fetchRequester, type HttpTransportOptions, type Requester } from './http';

/** HyperspaceClient over HTTP: `host` is the HTTP base URL (`http://localhost:50050`; a bare
 * `host:port` gets `http://`). False / [] / {} on failure with a warning, unless raiseErrors. */
export class HyperspaceClient extends ClientCore {
  readonly host: string;

  constructor(host = 'http://localhost:50050', apiKey?: string | null, userId?: string | null, options: CoreOptions = {}) {
    const t = new HttpTransport(host, {
      apiKey: apiKey ?? undefined, userId: userId ?? undefined, timeoutMs: options.timeoutMs, fetch: options.fetch,
    });
    super(t, { ...options, apiKey: apiKey ?? undefined, userId: userId ?? undefined });
    this.host = host;
  }
}

/** The HTTP HyperspaceClient that rejects with typed errors. */
export class Client extends HyperspaceClient {
  constructor(host = 'http://localhost:50050', apiKey?: string | null, userId?: string | null, options: CoreOptions = {}) {
    super(host, apiKey, userId, { raiseErrors: true, ...options });
  }

  override getCollectionStats(name: string): Promise<CollectionStats> {
    return super.getCollectionStats(name) as Promise<CollectionStats>;
  }

  override getDigest(collection = ''): Promise<Digest> {
    return super.getDigest(collection) as Promise<Digest>;
  }

  override upload(collection: string, vectors: ArrayLike<Vector> & Iterable<Vector>, ids?: ArrayLike<number> | null,
    metadata?: ArrayLike<Metadata | null | undefined> | null, options: UploadOptions = {}): Promise<number> {
    return super.upload(collection, vectors, ids, metadata, options) as Promise<number>;
  }
}

export default HyperspaceClient;
