// Starts the real hyperspace-server on free loopback ports with its own data directory
// (as tests/integration/conftest.py does for the Python tests). The binary is $HS_SERVER_BIN,
// else build/bin/hyperspace-server of this repository.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '..', '..', '..', '..');
export const BIN = process.env.HS_SERVER_BIN || path.join(ROOT, 'build', 'bin', 'hyperspace-server');
const SANITIZER_MARKS = ['ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:', 'ThreadSanitizer'];

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class Server {
  constructor({ env = {}, args = [], dataDir } = {}) {
    this.ownDir = !dataDir;
    this.dataDir = dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'hs-ts-data-'));
    this.env = env;
    this.args = args;
    this.logPath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hs-ts-log-')), 'server.log');
    this.proc = null;
  }

  async start() {
    this.grpcPort = await freePort();
    this.httpPort = await freePort();
    const env = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (!k.startsWith('HS_') && !k.startsWith('HYPERSPACE_')) env[k] = v;
    }
    env.HS_IDLE_TIMEOUT_SEC = '3600';
    Object.assign(env, this.env);
    const log = fs.openSync(this.logPath, 'a');
    this.proc = spawn(BIN, ['--host', '127.0.0.1', '--port', String(this.grpcPort), '--http-port',
      String(this.httpPort), '--data-dir', this.dataDir, ...this.args],
    { env, cwd: this.dataDir, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.exit = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
    this.exited = null;
    this.exit.then((r) => { this.exited = r; });
    // ready once it has logged its HTTP listener (the gRPC one comes first)
    for (let i = 0; i < 600; i++) {
      if (this.exited) throw new Error(`server exited with ${JSON.stringify(this.exited)}:\n${this.output()}`);
      if (this.output().includes('HTTP listening on')) return this;
      await sleep(50);
    }
    throw new Error(`server not ready in 30 s:\n${this.output()}`);
  }

  get grpcTarget() { return `127.0.0.1:${this.grpcPort}`; }
  get url() { return `http://127.0.0.1:${this.httpPort}`; }

  output() {
    try { return fs.readFileSync(this.logPath, 'utf8'); } catch { return ''; }
  }

  /** SIGTERM, wait for the exit; returns {code, signal}. */
  async stop() {
    if (!this.proc) return null;
    if (!this.exited) {
      this.proc.kill('SIGTERM');
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 30000);
      await this.exit;
      clearTimeout(t);
    }
    const r = this.exited;
    this.proc = null;
    return r;
  }

  /** Stops the server, checks it ended cleanly (exit 0, no sanitizer report), removes its files. */
  async finish() {
    const r = await this.stop();
    const out = this.output();
    if (this.ownDir) fs.rmSync(this.dataDir, { recursive: true, force: true });
    fs.rmSync(path.dirname(this.logPath), { recursive: true, force: true });
    if (r && (r.code !== 0 || r.signal)) throw new Error(`server exited with ${JSON.stringify(r)}:\n${out.slice(-5000)}`);
    for (const m of SANITIZER_MARKS) {
      if (out.includes(m)) throw new Error(`sanitizer report in the server log:\n${out.slice(-20000)}`);
    }
  }
}

export async function startServer(opts) {
  return new Server(opts).start();
}
