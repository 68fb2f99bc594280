// Reading a running Chromium's memory through the DevTools protocol (playwright-core's browser CDP
// session): the JS heap of a page's dedicated worker, and the resident set of its renderer processes.
// Shared by the inspector's end-to-end test and bench/web-report.mjs.
import fs from 'node:fs';

/** A way to ask the page's (only) dedicated worker DevTools questions, through the browser session. */
export async function workerSession(cdp) {
  const { targetInfos } = await cdp.send('Target.getTargets');
  const target = targetInfos.find((t) => t.type === 'worker');
  if (!target) throw new Error('the page started no worker');
  const { sessionId } = await cdp.send('Target.attachToTarget', { targetId: target.targetId, flatten: false });
  let id = 0;
  const waiting = new Map();
  cdp.on('Target.receivedMessageFromTarget', (e) => {
    const m = JSON.parse(e.message);
    waiting.get(m.id)?.(m.result);
    waiting.delete(m.id);
  });
  return {
    /** Sends `method` to the worker and resolves with its result. */
    ask: (method, params = {}) => new Promise((resolve) => {
      const n = ++id;
      waiting.set(n, resolve);
      void cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id: n, method, params }) });
    }),
  };
}

/** The largest resident set (KiB) among Chromium's renderer processes: the reading tab's, while it reads. */
export async function rendererRssKb(cdp) {
  const { processInfo } = await cdp.send('SystemInfo.getProcessInfo');
  let max = 0;
  for (const p of processInfo.filter((x) => x.type === 'renderer')) {
    try {
      max = Math.max(max, Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p.id}/status`, 'utf8'))?.[1] ?? 0));
    } catch { /* the process ended */ }
  }
  return max;
}

/**
 * Samples the worker's used JS heap and the renderers' RSS every `everyMs` until `stop()`; resolves with
 * the highest of each ({ heapMax bytes, rssMaxKb }).
 */
export function sampleMemory(cdp, worker, everyMs = 100) {
  let running = true;
  const peaks = { heapMax: 0, rssMaxKb: 0 };
  const done = (async () => {
    while (running) {
      peaks.heapMax = Math.max(peaks.heapMax, (await worker.ask('Runtime.getHeapUsage')).usedSize);
      peaks.rssMaxKb = Math.max(peaks.rssMaxKb, await rendererRssKb(cdp));
      await new Promise((r) => setTimeout(r, everyMs));
    }
    return peaks;
  })();
  return { stop: () => { running = false; return done; } };
}
