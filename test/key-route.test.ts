// What a sync owns on the target, checked against brute force: a target key is owned exactly when some
// source key of a small universe (every string up to 6 characters over 'a', 'b', ':') is placed under
// that name, for every combination of --db, --db-map, --prefix, --key and --rename tried here.
import { describe, expect, it } from 'vitest';
import { KeyRoute, parseRenameRule, routeDifferences, type KeyRouteOptions } from '../src/sync/key-route.js';

const te = new TextEncoder();
const td = new TextDecoder();

function strings(maxLength: number): string[] {
  const out = [''];
  for (let length = 1, level = ['']; length <= maxLength; length++) {
    level = level.flatMap((s) => ['a', 'b', ':'].map((c) => s + c));
    out.push(...level);
  }
  return out;
}

const SOURCE_KEYS = strings(6);
const TARGET_KEYS = strings(4);
const SOURCE_DBS = [0, 1, 2, 3, 5, 7];

const KEY_OPTIONS: Array<[string, Partial<KeyRouteOptions>]> = [
  ['all keys', {}],
  ['--prefix a:', { prefixes: ['a:'] }],
  ['--prefix a: --prefix b', { prefixes: ['a:', 'b'] }],
  ['--key ^.b', { keyPattern: /^.b/ }],
  ["--rename 's/^a:/b/'", { rename: parseRenameRule('s/^a:/b/') }],
  ["--rename 's/^/a:/'", { rename: parseRenameRule('s/^/a:/') }],
  ["--rename 's/^b/ba/'", { rename: parseRenameRule('s/^b/ba/') }],
  ["--prefix a --rename 's/^a:/b/'", { prefixes: ['a'], rename: parseRenameRule('s/^a:/b/') }],
  ["--prefix a:b --rename 's/^a:/:/'", { prefixes: ['a:b'], rename: parseRenameRule('s/^a:/:/') }],
  ["--key a$ --rename 's/^b/a/'", { keyPattern: /a$/, rename: parseRenameRule('s/^b/a/') }],
  ["--prefix b --key :: --rename 's/^/:/'", { prefixes: ['b'], keyPattern: /::/, rename: parseRenameRule('s/^/:/') }],
];

const DB_OPTIONS: Array<[string, Partial<KeyRouteOptions>]> = [
  ['every db', {}],
  ['--db 0,3', { dbs: [0, 3] }],
  ['--db-map 0:5', { dbMap: new Map([[0, 5]]) }],
  ['--db 0,1 --db-map 0:1,1:0', { dbs: [0, 1], dbMap: new Map([[0, 1], [1, 0]]) }],
  ['--db 2,7 --db-map 7:9', { dbs: [2, 7], dbMap: new Map([[7, 9]]) }],
];

describe('KeyRoute: the target keys a sync owns are exactly those it can write', () => {
  for (const [dbName, dbOptions] of DB_OPTIONS) {
    for (const [keyName, keyOptions] of KEY_OPTIONS) {
      it(`${dbName}, ${keyName}`, () => {
        const route = new KeyRoute({ ...dbOptions, ...keyOptions });
        const written = new Set<string>();
        for (const db of [...SOURCE_DBS, 9]) {
          for (const key of SOURCE_KEYS) {
            const placed = route.place(db, te.encode(key));
            if (placed) written.add(`${placed.db} ${td.decode(placed.key)}`);
          }
        }
        const dbs = route.targetDbs;
        const mismatches: string[] = [];
        for (const db of [0, 1, 2, 3, 5, 7, 9]) {
          for (const key of TARGET_KEYS) {
            const owned = (dbs === null || dbs.includes(db)) && route.owns(te.encode(key));
            if (owned !== written.has(`${db} ${key}`)) mismatches.push(`db ${db} ${JSON.stringify(key)}: owns ${owned}`);
          }
        }
        expect(mismatches).toEqual([]);
        // SCAN's MATCH pattern only narrows the keys owns() is asked about: every owned key matches it.
        const glob = new RegExp(`^${td.decode(route.scanPattern).replace(/\\(.)/g, '$1').replace(/[.*+?^${}()|[\]\\]/g, (c) => (c === '*' ? '.*' : `\\${c}`))}$`, 's');
        for (const entry of written) expect(entry.slice(entry.indexOf(' ') + 1)).toMatch(glob);
      });
    }
  }

  it('--db-map alone syncs the mapped databases only', () => {
    const route = new KeyRoute({ dbMap: new Map([[0, 5]]) });
    expect(route.targetDb(0)).toBe(5);
    expect(route.targetDb(7)).toBeNull();
    expect(route.targetDbs).toEqual([5]);
  });

  it('refuses two source databases written into one target database, and a --db-map outside --db', () => {
    expect(() => new KeyRoute({ dbs: [0, 5], dbMap: new Map([[0, 5]]) })).toThrow(/source databases 0 and 5 would both be written into target database 5/);
    expect(() => new KeyRoute({ dbs: [1], dbMap: new Map([[0, 5]]) })).toThrow(/--db-map 0:5: database 0 is not among the synced ones/);
  });

  it.each(['s/a/b/', 's/^a./b/', 's/^(a)/b/', 's/^a/$1/', 's/^a/b/i', 's/^a\\d/b/'])('refuses %s: not a fixed prefix', (rule) => {
    expect(() => new KeyRoute({ rename: parseRenameRule(rule) })).toThrow(/redistap renames a fixed prefix/);
  });

  it('accepts escaped characters in a fixed prefix and $$ in the replacement', () => {
    const route = new KeyRoute({ rename: parseRenameRule('s/^a\\.b\\*/c$$/') });
    expect(td.decode(route.key(te.encode('a.b*x'))!)).toBe('c$x');
    expect(td.decode(route.key(te.encode('aXb*x'))!)).toBe('aXb*x');
  });

  it('a route rebuilt from its record is the same route; differences are named by option', () => {
    const options = { dbs: [0, 2], dbMap: new Map([[2, 4]]), prefixes: ['b', 'a:'], keyPattern: /x|y/i, rename: parseRenameRule('s/^a:/$$:/') };
    const route = new KeyRoute(options);
    expect(KeyRoute.fromRecord(route.record).record).toEqual(route.record);
    expect(routeDifferences(route.record, route.record)).toEqual([]);
    expect(routeDifferences(route.record, new KeyRoute({ prefixes: ['a:'] }).record)).toEqual([
      '--db was [0,2], now none', '--db-map was [[2,4]], now none', '--prefix was ["a:","b"], now ["a:"]',
      '--key was "/x|y/i", now none', '--rename was {"from":"a:","to":"$:"}, now none',
    ]);
  });
});
