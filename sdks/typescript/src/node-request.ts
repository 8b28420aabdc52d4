/**
 * The HTTP requester of the Node entry: node:http / node:https with keep-alive, and
 * `Expect: 100-continue` for large bodies, so that an answer the server gives before reading
 * the body (413 PAYLOAD_TOO_LARGE) is read instead of failing the write (fetch cannot do this;
 * the browser entry uses fetch).
 */
import * as http from 'http';
import * as https from 'https';

import type { Requester, RequestInitLite, ResponseLite } from './http';

const EXPECT_CONTINUE_BYTES = 64 * 1024;

export function nodeRequester(): Requester & { close(): void } {
  const agents = {
    'http:': new http.Agent({ keepAlive: true }),
    'https:': new https.Agent({ keepAlive: true }),
  };
  const once = (url: URL, init: RequestInitLite): Promise<ResponseLite & { reused: boolean }> =>
    new Promise((resolve, reject) => {
      const mod = url.protocol === 'https:' ? https : http;
      const agent = agents[url.protocol as 'http:' | 'https:'];
      const headers: Record<string, string | number> = { ...init.headers };
      const body = init.body !== undefined ? Buffer.from(init.body, 'utf8') : undefined;
      const expect = body !== undefined && body.length > EXPECT_CONTINUE_BYTES;
      if (body !== undefined) headers['Content-Length'] = body.length;
      if (expect) headers.Expect = '100-continue';
      let timer: ReturnType<typeof setTimeout> | undefined;
      const req = mod.request(url, { method: init.method, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if (timer) clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), reused: req.reusedSocket });
        });
        res.on('error', (e) => {
          if (timer) clearTimeout(timer);
          reject(e);
        });
      });
      req.on('error', (e: Error & { reused?: boolean }) => {
        if (timer) clearTimeout(timer);
        e.reused = req.reusedSocket;
        reject(e);
      });
      if (init.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          const e = new Error(`no answer within ${init.timeoutMs} ms`);
          e.name = 'TimeoutError';
          req.destroy(e);
        }, init.timeoutMs);
      }
      if (expect) req.on('continue', () => req.end(body));
      else req.end(body);
    });

  const request = async (url: string, init: RequestInitLite): Promise<ResponseLite> => {
    const u = new URL(url);
    try {
      return await once(u, init);
    } catch (e) {
      // a kept-alive connection that the server closed meanwhile: try once more on a new one
      const err = e as NodeJS.ErrnoException & { reused?: boolean };
      if (err.reused && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) return once(u, init);
      throw e;
    }
  };
  return Object.assign(request, {
    close(): void {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  });
}
