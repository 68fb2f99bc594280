// Contender (a) of bench/rdb-parse.mjs: raw event parsing of one RDB file, in a fresh Node process.
//
//   node bench/rdb-events-child.mjs FILE
//
// Reads FILE with fs.readSync straight into the parser's input buffer (RdbEventParser.fill: no copy in
// JS) and lets the sink touch every event, reading only its kind: this measures the core plus the JS
// event loop, not string decoding. Prints one JSON line {keys, events, kindSum, parseMs} on stdout;
// parseMs runs from compiling the module to the last event and the verified checksum. As the library's
// file readers do, a large file's CRC64 is computed on a worker thread (FileChecksum) while this thread
// parses. A parse error goes to stderr, exit 1.
import fs from 'node:fs';
import { RdbEventParser, FileChecksum, checksumOptions, verifyChecksumWith, abi } from '../dist/node.js';

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
const checksum = FileChecksum.worthwhile(file);
const parser = RdbEventParser.createSync(checksumOptions(checksum));
const fd = fs.openSync(file, 'r');
try {
  while (parser.fill((into) => fs.readSync(fd, into, 0, into.length, null), sink) > 0);
  parser.end(sink);
  if (checksum) await verifyChecksumWith(parser, checksum);
} catch (err) {
  console.error(`${err.name}: ${err.message}`);
  process.exit(1);
}
fs.closeSync(fd);
if (!parser.done) {
  console.error(`parser not done after the whole file (consumed ${parser.consumed} bytes)`);
  process.exit(1);
}
console.log(JSON.stringify({ keys, events, kindSum, parseMs: performance.now() - started, parallelChecksum: !!checksum }));
