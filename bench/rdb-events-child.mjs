// Contender (a) of bench/rdb-parse.mjs: raw event parsing of one RDB file, in a fresh Node process.
//
//   node bench/rdb-events-child.mjs FILE
//
// Reads FILE in 1 MiB chunks into one reused buffer (fs.readSync measured as fast as createReadStream
// with a 1 MiB highWaterMark, with ~30 MB less peak RSS) and feeds RdbEventParser. The sink touches every
// event but reads only its kind, so this measures the core plus the JS event loop, not string decoding.
// Prints one JSON line {keys, events, kindSum, parseMs} on stdout; a parse error goes to stderr, exit 1.
import fs from 'node:fs';
import { RdbEventParser, abi } from '../dist/node.js';

const file = process.argv[2];
const { E_KEY } = abi;
let keys = 0;
let events = 0;
let kindSum = 0; // printed, so the JIT cannot drop the loop that reads every kind

function sink(batch) {
  const n = batch.count;
  events += n;
  for (let i = 0; i < n; i++) {
    const kind = batch.kind(i);
    kindSum = (kindSum + kind) | 0;
    if (kind === E_KEY) keys++;
  }
}

const started = performance.now();
const parser = RdbEventParser.createSync();
const fd = fs.openSync(file, 'r');
const chunk = Buffer.allocUnsafe(1 << 20);
let n;
try {
  // The parser copies each chunk into WebAssembly memory, so reusing one buffer is safe.
  while ((n = fs.readSync(fd, chunk, 0, chunk.length, null)) > 0) parser.write(chunk.subarray(0, n), sink);
  parser.end(sink);
} catch (err) {
  console.error(`${err.name}: ${err.message}`);
  process.exit(1);
}
fs.closeSync(fd);
if (!parser.done) {
  console.error(`parser not done after the whole file (consumed ${parser.consumed} bytes)`);
  process.exit(1);
}
console.log(JSON.stringify({ keys, events, kindSum, parseMs: performance.now() - started }));
