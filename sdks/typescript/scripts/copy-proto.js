// Copies the repository's proto/hyperspace.proto into this package (proto/), where the gRPC
// transport loads it at run time; nothing generated is committed.
'use strict';
const fs = require('fs');
const path = require('path');

const src = path.resolve(__dirname, '..', '..', '..', 'proto', 'hyperspace.proto');
const dstDir = path.resolve(__dirname, '..', 'proto');
const dst = path.join(dstDir, 'hyperspace.proto');
if (!fs.existsSync(src)) {
  if (fs.existsSync(dst)) process.exit(0); // a packed copy outside the repository
  console.error(`copy-proto: ${src} not found`);
  process.exit(1);
}
fs.mkdirSync(dstDir, { recursive: true });
fs.copyFileSync(src, dst);
