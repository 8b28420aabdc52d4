/**
 * HyperspaceDB client for Node: gRPC (@grpc/grpc-js, the proto loaded at run time) or
 * HTTP/JSON (fetch). For browsers, import `hyperspace-sdk-ts/http` (no Node modules).
 *
 *   import { HyperspaceClient } from 'hyperspace-sdk-ts';   // v2.0.0 API: false / [] on failure
 *   import { Client, errors } from 'hyperspace-sdk-ts';     // rejects with typed errors
 */
import { ClientCore, defaultHttpUrl, type CoreOptions, type UploadOptions } from './core';
import { GrpcTransport } from './grpc';
import { HttpTransport } from './http';
import { nodeRequester } from './node-request';
import type { Transport } from './transport';
import type { CollectionStats, Digest, Metadata, Vector } from './types';
import * as errors from './errors';

export * from './types';
export * from './errors';
export { errors };
export { ClientCore, defaultHttpUrl, DEFAULT_HTTP_PORT } from './core';
export type { CoreOptions, Embedder, Logger, UploadOptions } from './core';
export type { Transport } from './transport';
export { HttpTransport, fetchRequester, type HttpTransportOptions, type Requester } from './http';
export { nodeRequester } from './node-request';
export { GrpcTransport, defaultProtoPath, type GrpcTransportOptions } from './grpc';

export interface ClientOptions extends CoreOptions {
  /** "grpc" (default for host:port), "http" (default for http:// URLs), or "auto": gRPC, else
   * HTTP (httpUrl, or the host with port 50050) when gRPC does not connect within connectTimeoutMs. */
  transport?: 'grpc' | 'http' | 'auto';
  connectTimeoutMs?: number;
  /** Extra gRPC channel options. */
  grpcOptions?: GrpcTransportOptions['grpcOptions'];
  /** The .proto to load (default: the package's copy). */
  protoPath?: string;
}
type GrpcTransportOptions = import('./grpc').GrpcTransportOptions;

/**
 * A HyperspaceDB client. `host` is `"localhost:50051"` (gRPC) or `"http://localhost:50050"`
 * (HTTP). Keeps the v2.0.0 SDK's names, argument positions and return conventions: a failed
 * call resolves to false / [] / {} and logs one warning with the error's code, message and
 * details; `{ raiseErrors: true }` (or `Client`) rejects with typed errors instead.
 */
export class HyperspaceClient extends ClientCore {
  readonly host: string;

  constructor(host = 'localhost:50051', apiKey?: string | null, userId?: string | null, options: ClientOptions = {}) {
    const apiKey_ = apiKey ?? undefined;
    const userId_ = userId ?? undefined;
    const kind = /^https?:\/\//i.test(host) ? 'http' : (options.transport ?? 'grpc');
    const target = host.replace(/^grpc:\/\//i, '');
    const common = { apiKey: apiKey_, userId: userId_, timeoutMs: options.timeoutMs };
    const http = (url: string): Transport => new HttpTransport(url, {
      ...common, ...(options.fetch ? { fetch: options.fetch } : { request: nodeRequester() }),
    });
    const grpc = (): GrpcTransport => new GrpcTransport(target, { ...common, grpcOptions: options.grpcOptions, protoPath: options.protoPath });
    let transport: Transport;
    let probe: GrpcTransport | undefined;
    if (kind === 'http') transport = http(host);
    else if (kind === 'grpc' || kind === 'auto') transport = probe = grpc();
    else throw new TypeError(`transport must be 'grpc', 'http' or 'auto', got '${String(kind)}'`);
    super(transport, { ...options, apiKey: apiKey_, userId: userId_ });
    this.host = host;
    if (kind === 'auto' && probe) {
      const g = probe;
      this._pending = g.waitReady(options.connectTimeoutMs ?? 5000).then((ok) => {
        this._pending = undefined;
        if (ok) return;
        g.close();
        const url = options.httpUrl ?? defaultHttpUrl(target);
        (options.logger ?? console).warn(`hyperspace: gRPC at ${target} not reachable, using HTTP at ${url}`);
        this._transport = http(url);
      });
    }
  }
}

/** HyperspaceClient that rejects with typed errors (see `errors`) instead of resolving to
 * false / [] / {}. */
export class Client extends HyperspaceClient {
  constructor(host = 'localhost:50051', apiKey?: string | null, userId?: string | null, options: ClientOptions = {}) {
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
