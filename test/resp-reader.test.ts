// The RESP core on hand-derived inputs (the examples of the RESP2/RESP3 specifications and the shapes a
// master sends its replicas), every one fed whole, one byte at a time and at random split points, with
// the same result and the same error at the same offset each way.
import { describe, expect, it } from 'vitest';
import * as r from '../src/core/resp-abi.js';
import { RespReader, type RespReaderOptions } from '../src/core/resp-reader.js';
import { RespError } from '../src/core/resp-error.js';
import type { EventBatch } from '../src/core/event-batch.js';
import { RespErrorReply, RespMap, RespPush, RespReplyReader, RespSet, RespVerbatim, type RespValue } from '../src/resp/replies.js';
import { encodeCommand } from '../src/resp/encode.js';
import { chunks, type Split } from './helpers/feed.js';

const enc = new TextEncoder();
const b = (s: string) => enc.encode(s);
const splits: Split[] = ['whole', 'bytes', { seed: 1, max: 3 }, { seed: 2, max: 17 }, { seed: 3, max: 4000 }];

function replies(data: Uint8Array, split: Split, options: RespReaderOptions = {}): RespValue[] {
  const reader = new RespReplyReader(options);
  const out: RespValue[] = [];
  for (const c of chunks(data, split)) out.push(...reader.write(c));
  return out;
}

function errorOf(fn: () => unknown): RespError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RespError);
    return err as RespError;
  }
  throw new Error('no error');
}

const cases: Array<[string, string, RespValue[]]> = [
  ['simple string', '+OK\r\n', ['OK']],
  ['empty simple string', '+\r\n', ['']],
  ['error', '-ERR unknown command \'x\'\r\n', [new RespErrorReply("ERR unknown command 'x'")]],
  ['integers', ':0\r\n:-42\r\n:1000\r\n', [0, -42, 1000]],
  ['64-bit integers', ':9223372036854775807\r\n:-9223372036854775808\r\n', [9223372036854775807n, -9223372036854775808n]],
  ['bulk string', '$5\r\nhello\r\n', [b('hello')]],
  ['binary bulk with CRLF inside', '$4\r\na\r\nb\r\n', [b('a\r\nb')]],
  ['empty bulk', '$0\r\n\r\n', [new Uint8Array(0)]],
  ['RESP2 nulls', '$-1\r\n*-1\r\n', [null, null]],
  ['array', '*2\r\n$3\r\nfoo\r\n:1\r\n', [[b('foo'), 1]]],
  ['empty and nested arrays', '*0\r\n*2\r\n*1\r\n+a\r\n*0\r\n', [[], [['a'], []]]],
  ['deeply nested closing at once', '*1\r\n*1\r\n*1\r\n:7\r\n+after\r\n', [[[[7]]], 'after']],
  ['RESP3 null', '_\r\n', [null]],
  ['doubles', ',1.5\r\n,-0.25\r\n,inf\r\n,-inf\r\n,1e300\r\n', [1.5, -0.25, Infinity, -Infinity, 1e300]],
  ['booleans', '#t\r\n#f\r\n', [true, false]],
  ['big number', '(3492890328409238509324850943850943825024385\r\n', [3492890328409238509324850943850943825024385n]],
  ['blob error', '!21\r\nSYNTAX invalid syntax\r\n', [new RespErrorReply('SYNTAX invalid syntax')]],
  ['verbatim string', '=15\r\ntxt:Some string\r\n', [new RespVerbatim('txt', b('Some string'))]],
  ['map', '%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n', [new RespMap([['first', 1], ['second', 2]])]],
  ['set and push', '~2\r\n+a\r\n:1\r\n>2\r\n+message\r\n$2\r\nhi\r\n', [new RespSet(['a', 1]), new RespPush(['message', b('hi')])]],
  ['empty map', '%0\r\n', [new RespMap([])]],
  ['attribute before a reply (spec example)',
    '|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n*2\r\n:2039123\r\n:9543892\r\n',
    [[2039123, 9543892]]],
  ['attribute inside an array is not an element', '*2\r\n|1\r\n+ttl\r\n:3600\r\n:1\r\n:2\r\n', [[1, 2]]],
];

describe('RESP replies', () => {
  it.each(cases.flatMap(([name, text, want]) => splits.map((s) => [name, JSON.stringify(s), text, want, s] as const)))(
    '%s (%s)', (_n, _s, text, want, split) => {
      const got = replies(b(text), split);
      if (want.some((v) => typeof v === 'number' && Number.isNaN(v))) return;
      expect(got).toEqual(want);
    });

  it('reads NaN', () => {
    expect(replies(b(',nan\r\n'), 'bytes')[0]).toBeNaN();
  });

  it.each(splits)('streams a bulk string larger than half the input buffer as chunks (%j)', (split) => {
    const big = new Uint8Array(300_000).map((_, i) => (i * 7 + (i >> 9)) & 0xff);
    const data = new Uint8Array([...b('*2\r\n$300000\r\n'), ...big, ...b('\r\n+done\r\n')]);
    expect(replies(data, split, { inputBufferSize: 4096 })).toEqual([[big, 'done']]);
  });

  it('reports each reply once, in order, across thousands of replies', () => {
    const many = Array.from({ length: 5000 }, (_, i) => `:${i}\r\n$${String(i).length}\r\n${i}\r\n`).join('');
    const got = replies(b(many), { seed: 9, max: 50 }, { eventCapacity: 64 });
    expect(got).toHaveLength(10000);
    expect(got[9999]).toEqual(b('4999'));
  });

  it('marks the event that completes a top-level reply, with the offset after it', () => {
    const reader = new RespReader();
    const seen: Array<[number, number, number]> = [];
    reader.write(b('*2\r\n:1\r\n*1\r\n+x\r\n:5\r\n'), (batch) => {
      for (let i = 0; i < batch.count; i++) {
        if (batch.flags(i) & r.RF_LAST) seen.push([batch.kind(i), batch.aux(i), batch.n2(i)]);
      }
    });
    expect(seen).toEqual([[r.RE_AGGREGATE_END, r.T_ARRAY, 16], [r.RE_VALUE, r.T_INTEGER, 20]]);
    expect(reader.atBoundary).toBe(true);
  });
});

const errors: Array<[string, string, string, number, number, RespReaderOptions?]> = [
  ['unknown type byte', '+OK\r\n?x\r\n', 'unknown-type', 5, 0x3f],
  ['not a number', ':12a\r\n', 'bad-integer', 1, 0],
  ['integer overflow', ':9223372036854775808\r\n', 'bad-integer', 1, 0],
  ['CR without LF', '+OK\rX\r\n', 'bad-line', 4, 0x58],
  ['bulk without its CRLF', '$5\r\nhelloXY', 'bad-line', 9, 0x58],
  ['negative length', '$-2\r\n', 'bad-integer', 1, -2],
  ['null map', '%-1\r\n', 'bad-value', 0, 0x25],
  ['boolean other than t/f', '#x\r\n', 'bad-value', 0, 0x23],
  ['null with content', '_x\r\n', 'bad-value', 0, 0x5f],
  ['empty integer line', ':\r\n', 'bad-integer', 1, 0],
  ['verbatim without format', '=3\r\nabc\r\n', 'bad-value', 4, 0x3d],
  ['bulk over the limit', '$600000000\r\n', 'bulk-too-large', 0, 600000000],
  ['too many elements', '*1\r\n*5\r\n', 'too-many-elements', 4, 5, { maxElements: 4 }],
  ['nesting too deep', '*1\r\n'.repeat(4), 'too-deep', 12, 3, { maxDepth: 3 }],
  ['line without CRLF', `+${'a'.repeat(5000)}`, 'line-too-long', 1, 2048, { inputBufferSize: 4096 }],
];

describe('RESP protocol errors', () => {
  it.each(errors.flatMap((e) => splits.map((s) => [e[0], JSON.stringify(s), e, s] as const)))('%s (%s)', (_n, _s, e, split) => {
    const [, text, kind, offset, detail, options] = e;
    const reader = new RespReplyReader(options);
    const err = errorOf(() => {
      for (const c of chunks(b(text), split)) reader.write(c);
    });
    expect([err.kind, err.offset, err.detail]).toEqual([kind, offset, detail]);
    expect(err.message).toContain(`at byte offset ${offset}`);
    // Sticky: the reader stays in error.
    expect(errorOf(() => reader.write(b('+OK\r\n'))).kind).toBe(kind);
  });

  it('a huge declared length is refused before anything is allocated', () => {
    const reader = new RespReader({ maxBulkBytes: 1 << 20 });
    expect(errorOf(() => reader.write(b('$4294967296\r\n'), () => {})).kind).toBe('bulk-too-large');
  });
});

// ------------------------------------------------------------------------------------------------
// Replication mode

type Rec = (string | number)[];

/** The replication events as records, with RDB data joined (its chunking depends on the split). */
function replicationRecords(parts: Uint8Array[], split: Split, options: RespReaderOptions = {}): Rec[] {
  const reader = new RespReader({ mode: 'replication', ...options });
  const out: Rec[] = [];
  const dec = new TextDecoder();
  let cmd: Rec | null = null;
  let chunk = '';
  const names = new Map<number, string>();
  const sink = (batch: EventBatch) => {
    for (let i = 0; i < batch.count; i++) {
      const kind = batch.kind(i);
      const last = out[out.length - 1];
      if (kind === r.RE_PSYNC) out.push(['psync', batch.aux(i), batch.text(i), batch.n2(i)]);
      else if (kind === r.RE_RDB_BEGIN) out.push(['rdb-begin', batch.n1(i), batch.text(i)]);
      else if (kind === r.RE_RDB_DATA) {
        if (last?.[0] === 'rdb') last[1] += batch.text(i);
        else out.push(['rdb', batch.text(i)]);
      } else if (kind === r.RE_RDB_END) out.push(['rdb-end', batch.n2(i)]);
      else if (kind === r.RE_WHOLE_COMMAND) out.push(wholeCommandRecord(batch, i, names));
      else if (kind === r.RE_COMMAND) cmd = ['cmd', batch.n1(i), batch.n2(i)];
      else if (kind === r.RE_CHUNK) chunk += dec.decode(batch.view(i));
      else if (kind === r.RE_VALUE && cmd) {
        if (batch.flags(i) & r.RF_CHUNKED) { cmd.push(chunk); chunk = ''; } else cmd.push(batch.text(i));
      } else if (kind === r.RE_VALUE) out.push(['reply', batch.aux(i), batch.text(i)]);
      else if (kind === r.RE_AGGREGATE_END && cmd) {
        expect(batch.flags(i) & r.RF_LAST).toBe(r.RF_LAST);
        cmd.push(batch.n2(i));
        out.push(cmd);
        cmd = null;
      }
    }
  };
  // Parts are delivered one after the other, as separate reads would (the master pauses after a mark).
  for (const part of parts) for (const c of chunks(part, split)) reader.write(c, sink);
  return out;
}

/**
 * A whole command as the same record as one read argument by argument; checks that its name's ID stands
 * for one name only (compared lower-cased).
 */
function wholeCommandRecord(batch: EventBatch, i: number, names: Map<number, string>): Rec {
  const argc = batch.aux(i);
  const bounds = batch.copyWords(batch.n1Low(i), batch.n1Low(i) + 8 * argc);
  const args = Array.from({ length: argc }, (_, k) => new TextDecoder().decode(batch.copyBytes(bounds[2 * k]!, bounds[2 * k + 1]!)));
  const id = batch.n1High(i);
  if (id !== 0) {
    if (!names.has(id)) names.set(id, args[0]!.toLowerCase());
    expect(args[0]!.toLowerCase()).toBe(names.get(id));
  }
  // ptr/len span the command: from its '*' to the CRLF after its last argument.
  expect(batch.copyBytes(batch.ptr(i), batch.ptr(i) + 1)[0]).toBe(r.T_ARRAY);
  expect(bounds[2 * argc - 1]! + 2).toBe(batch.ptr(i) + batch.len(i));
  return ['cmd', argc, batch.n2(i), ...args, batch.n2(i) + batch.len(i)];
}

const REPLID = '8371b4fb1155b71f4a04d3e1bc3e18c4a990aeeb';
const MARK = 'd0a4e8b7c6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1';
const PING = '*1\r\n$4\r\nPING\r\n';
const SET = '*3\r\n$3\r\nSET\r\n$1\r\na\r\n$3\r\nb\r\n\r\n';
const commands = PING + SET;
const fullresync = (offset: number) => `+FULLRESYNC ${REPLID} ${offset}\r\n`;

describe('replication stream', () => {
  it.each(splits)('full sync with a length-framed RDB after keepalives (%j)', (split) => {
    const head = `${fullresync(100)}\n\n\n$10\r\n`;
    const rdbEnd = head.length + 10;
    const setAt = rdbEnd + PING.length;
    expect(replicationRecords([b(`${head}0123456789${commands}`)], split)).toEqual([
      ['psync', r.PSYNC_FULLRESYNC, `FULLRESYNC ${REPLID} 100`, fullresync(100).length],
      ['rdb-begin', 10, ''],
      ['rdb', '0123456789'],
      ['rdb-end', rdbEnd],
      ['cmd', 1, rdbEnd, 'PING', setAt],
      ['cmd', 3, setAt, 'SET', 'a', 'b\r\n', setAt + SET.length],
    ]);
  });

  it.each(splits)('full sync with a diskless RDB that ends with the EOF mark (%j)', (split) => {
    // The payload ends with bytes that look like the start of the mark: only the whole mark ends it.
    const payload = `REDIS0011...${MARK.slice(0, 39)}`;
    const head = `${fullresync(0)}\n$EOF:${MARK}\r\n`;
    const rdbEnd = head.length + payload.length + 40;
    const setAt = rdbEnd + PING.length;
    expect(replicationRecords([b(head + payload + MARK), b(commands)], split)).toEqual([
      ['psync', r.PSYNC_FULLRESYNC, `FULLRESYNC ${REPLID} 0`, fullresync(0).length],
      ['rdb-begin', -1, MARK],
      ['rdb', payload],
      ['rdb-end', rdbEnd],
      ['cmd', 1, rdbEnd, 'PING', setAt],
      ['cmd', 3, setAt, 'SET', 'a', 'b\r\n', setAt + SET.length],
    ]);
  });

  it.each(splits)('partial resync, with and without a new replication ID (%j)', (split) => {
    expect(replicationRecords([b(`+CONTINUE\r\n${commands}`)], split)[0]).toEqual(['psync', r.PSYNC_CONTINUE, 'CONTINUE', 11]);
    expect(replicationRecords([b(`+CONTINUE ${REPLID}\r\n*1\r\n$4\r\nPING\r\n`)], split)).toEqual([
      ['psync', r.PSYNC_CONTINUE, `CONTINUE ${REPLID}`, 52],
      ['cmd', 1, 52, 'PING', 66],
    ]);
  });

  it.each(splits)('a snapshot with no reply line before it (the master took PSYNC for SYNC) (%j)', (split) => {
    const head = '\n\n$10\r\n';
    const rdbEnd = head.length + 10;
    expect(replicationRecords([b(`${head}0123456789${PING}`)], split)).toEqual([
      ['psync', r.PSYNC_SYNC, '', 2],
      ['rdb-begin', 10, ''],
      ['rdb', '0123456789'],
      ['rdb-end', rdbEnd],
      ['cmd', 1, rdbEnd, 'PING', rdbEnd + PING.length],
    ]);
  });

  it('an error reply to PSYNC is a reply; the next PSYNC reply is read after it', () => {
    const error = "-NOMASTERLINK Can't SYNC while not connected with a master\r\n";
    expect(replicationRecords([b(`${error}+CONTINUE\r\n`)], 'bytes')).toEqual([
      ['reply', r.T_ERROR, "NOMASTERLINK Can't SYNC while not connected with a master"],
      ['psync', r.PSYNC_CONTINUE, 'CONTINUE', error.length + 11],
    ]);
  });

  it.each(splits)('a command argument larger than half the input buffer arrives in chunks (%j)', (split) => {
    const value = 'v'.repeat(10_000);
    const text = `+CONTINUE\r\n${new TextDecoder().decode(encodeCommand(['SET', 'k', value]))}`;
    const recs = replicationRecords([b(text)], split, { inputBufferSize: 4096 });
    expect(recs[1]).toEqual(['cmd', 3, 11, 'SET', 'k', value, text.length]);
  });

  /** `commands` after +CONTINUE, and the records expected for them (offsets counted by hand). */
  function continued(commands: string[][]): { text: string; expected: Rec[] } {
    let text = '+CONTINUE\r\n';
    const expected: Rec[] = [['psync', r.PSYNC_CONTINUE, 'CONTINUE', text.length]];
    for (const args of commands) {
      const bytes = new TextDecoder().decode(encodeCommand(args));
      expected.push(['cmd', args.length, text.length, ...args, text.length + bytes.length]);
      text += bytes;
    }
    return { text, expected };
  }

  it.each(splits)('commands under hundreds of names, in any case, keep their names (%j)', (split) => {
    // More distinct names than the core interns, names longer than it interns, the same name in
    // several cases: whatever the core does with them, every command reads back as sent.
    const names = Array.from({ length: 300 }, (_, i) => `Cmd${i}`);
    const commands = names.flatMap((name, i) => [[name, `k${i}`], [name.toUpperCase(), 'v'], ['set', 'a', 'b'], ['SeT', 'c', 'd'], ['DEL', 'c']]);
    commands.push(['x'.repeat(33), '1'], ['y'.repeat(32), '2'], ['z'.repeat(8), '3'], ['Z'.repeat(8), '4']);
    const { text, expected } = continued(commands);
    expect(replicationRecords([b(text)], split)).toEqual(expected);
  });

  it.each(splits)('commands with more arguments than the argument table holds, or longer than half the input buffer (%j)', (split) => {
    // 64 events: an argument table of 256 arguments; a 4 KiB input buffer waits for commands under 2 KiB.
    const many = ['RPUSH', 'list', ...Array.from({ length: 300 }, (_, i) => `e${i}`)];
    const long = ['HSET', 'h', ...Array.from({ length: 60 }, (_, i) => `field-${i}-${'f'.repeat(40)}`)];
    const { text, expected } = continued([['SET', 'a', 'b'], many, ['SET', 'c', 'd'], long, ['SET', 'e', 'f'], many]);
    expect(replicationRecords([b(text)], split, { inputBufferSize: 4096, eventCapacity: 64 })).toEqual(expected);
  });

  it('small commands arrive as one event each; one the argument table cannot hold, argument by argument', () => {
    const reader = new RespReader({ mode: 'replication', eventCapacity: 64 });
    const kinds: number[] = [];
    const { text } = continued([['SET', 'a', 'b'], ['DEL', ...Array.from({ length: 300 }, (_, i) => `k${i}`)], ['SET', 'c', 'd']]);
    reader.write(b(text), (batch) => {
      for (let i = 0; i < batch.count; i++) if (batch.kind(i) === r.RE_WHOLE_COMMAND || batch.kind(i) === r.RE_COMMAND) kinds.push(batch.kind(i));
    });
    expect(kinds).toEqual([r.RE_WHOLE_COMMAND, r.RE_COMMAND, r.RE_WHOLE_COMMAND]);
  });

  const bad: Array<[string, string, string, number]> = [
    ['a PSYNC reply that is not one', '+OK\r\n', 'bad-psync', 0],
    ['a bulk reply before the RDB', `${fullresync(1)}:1\r\n`, 'unexpected', fullresync(1).length],
    ['an EOF mark of the wrong size', `${fullresync(1)}$EOF:abc\r\n`, 'bad-value', fullresync(1).length],
    ['a command that is not an array', '+CONTINUE\r\n+PING\r\n', 'unexpected', 11],
    ['a command argument that is not a bulk string', '+CONTINUE\r\n*2\r\n$3\r\nDEL\r\n:1\r\n', 'unexpected', 24],
    ['an empty command', '+CONTINUE\r\n*0\r\n', 'bad-value', 11],
    ['a null command argument', '+CONTINUE\r\n*1\r\n$-1\r\n', 'bad-value', 15],
  ];

  it.each(bad.flatMap((e) => splits.map((s) => [e[0], JSON.stringify(s), e, s] as const)))('rejects %s (%s)', (_n, _s, e, split) => {
    const [, text, kind, offset] = e;
    const err = errorOf(() => replicationRecords([b(text)], split));
    expect([err.kind, err.offset]).toEqual([kind, offset]);
  });

  it('switches from replies to replication only between replies', () => {
    const reader = new RespReader();
    reader.write(b('+PONG\r\n'), () => {});
    reader.setMode('replication');
    const partial = new RespReader();
    partial.write(b('*2\r\n+a\r\n'), () => {});
    expect(errorOf(() => partial.setMode('replication')).kind).toBe('bad-mode');
  });
});

describe('encodeCommand', () => {
  it('writes arrays of binary-safe bulk strings', () => {
    const got = encodeCommand(['SET', new Uint8Array([0, 13, 10, 255]), 42, 7n]);
    expect([...got]).toEqual([...b('*4\r\n$3\r\nSET\r\n$4\r\n'), 0, 13, 10, 255, ...b('\r\n$2\r\n42\r\n$1\r\n7\r\n')]);
  });

  it('round-trips through the reader', () => {
    const args = ['HSET', 'h', 'f', 'x'.repeat(70_000)];
    expect(replies(encodeCommand(args), { seed: 5, max: 999 })).toEqual([args.map(b)]);
  });
});
