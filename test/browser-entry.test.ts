// The browser entry must bundle for a browser: no Node built-ins anywhere in its import graph. The bundle
// is then run in a worker-like VM context (no require, no process) to parse a fixture.
import { build } from 'esbuild';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { bytesOf, fixture } from './helpers/fixtures.js';

describe('redistap/browser', () => {
  it('bundles for the browser and parses a dump without Node', async () => {
    const out = await build({
      entryPoints: [new URL('../src/browser.ts', import.meta.url).pathname],
      bundle: true,
      platform: 'browser',
      format: 'iife',
      globalName: 'redistap',
      target: 'es2022',
      write: false,
      logLevel: 'silent',
    });
    const code = out.outputFiles[0]!.text;
    expect(code).not.toMatch(/require\(["']node:/);
    const f = fixture('redis-7.2.6-lru');
    const context = { TextDecoder, TextEncoder, WebAssembly, atob, btoa, data: bytesOf(f), result: null as unknown };
    runInNewContext(`${code};
      result = (async () => {
        const lines = [];
        for await (const e of redistap.parseRdb(data)) { const l = redistap.canonicalLine(e); if (l) lines.push(l); }
        return lines.sort();
      })();`, context);
    expect(await context.result).toEqual([...f.expected!].sort());
  });
});
