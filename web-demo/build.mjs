// Builds the inspector into web-demo/dist: the worker is bundled first and inlined into the page's
// script (it starts from a blob: URL, so the page's Content-Security-Policy covers it too), then
// index.html and the stylesheet are copied. `--serve` then serves dist on 127.0.0.1 and prints the URL
// (npm run demo); `--port N` picks the port (default: a free one).
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const dist = here('./dist/');
const common = { bundle: true, platform: 'browser', target: 'es2022', minify: true, legalComments: 'none', logLevel: 'warning' };

const worker = await esbuild.build({ ...common, entryPoints: [here('./src/worker.ts')], format: 'iife', write: false });
mkdirSync(dist, { recursive: true });
await esbuild.build({
  ...common,
  entryPoints: [here('./src/main.ts')],
  format: 'iife',
  outfile: `${dist}main.js`,
  define: { WORKER_SOURCE: JSON.stringify(worker.outputFiles[0].text) },
});
copyFileSync(here('./index.html'), `${dist}index.html`);
copyFileSync(here('./style.css'), `${dist}style.css`);

const args = process.argv.slice(2);
if (args.includes('--serve')) {
  const portArg = args.indexOf('--port');
  const ctx = await esbuild.context({});
  const { port } = await ctx.serve({ servedir: dist, host: '127.0.0.1', port: portArg >= 0 ? Number(args[portArg + 1]) : 0 });
  console.log(`redistap inspector: http://127.0.0.1:${port}/  (Ctrl-C to stop)`);
} else {
  console.log(`built ${dist}`);
}
