// The README's JavaScript quick start (`js` blocks after `<!-- readme-test -->`), run as written
// against a real server with only the addresses changed; the `// <value>` comments after
// console.log(...) are checked against what it printed (`...` stands for any text).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { ROOT, startServer } from './helpers/server.mjs';

const PKG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
let server;
before(async () => { server = await startServer(); });
after(async () => { await server.finish(); });

function blocks() {
  const text = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const re = /<!-- readme-test -->\s*\n```(\w+)\n([\s\S]*?)\n```/g;
  return [...text.matchAll(re)].filter((m) => m[1] === 'js').map((m) => m[2]);
}

function expected(code) {
  return code.split('\n').map((l) => /console\.log\(.*\);?\s+\/\/\s*(.+)$/.exec(l)).filter(Boolean).map((m) => m[1].trim());
}

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('the README quick start runs as written', async () => {
  const found = blocks();
  assert.ok(found.length >= 1, 'README lost its JavaScript example');
  for (let code of found) {
    code = code.replaceAll('127.0.0.1:50051', server.grpcTarget).replaceAll('127.0.0.1:50050', `127.0.0.1:${server.httpPort}`);
    const { stdout } = await new Promise((resolve, reject) => {
      execFile(process.execPath, ['--input-type=module', '-e', code], { cwd: PKG, timeout: 60000 },
        (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${out}\n${errOut}`)) : resolve({ stdout: out })));
    });
    const want = expected(code);
    assert.ok(want.length >= 3);
    for (const w of want) {
      const re = new RegExp(w.split('...').map(escape).join('.*'));
      assert.match(stdout, re, `expected ${w} in:\n${stdout}`);
    }
  }
});
