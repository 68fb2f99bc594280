// What a dump says besides its keys (RdbMetadata), gathered from the core's events; shared by every
// reader of events (entries, analysis).
import * as abi from '../core/abi.js';
import type { EventBatch } from '../core/event-batch.js';
import type { RdbMetadata } from './entry.js';
import { decodeModuleId } from './encodings.js';

const utf8 = new TextDecoder('utf-8');

export class MetadataReader {
  readonly metadata: RdbMetadata = {
    version: 0, flavor: 'redis', aux: [], functions: [], moduleAux: [], resizeHints: new Map(), checksum: null, trailingBytes: 0,
  };
  private pendingAuxKey = '';

  /** Records event i when it is metadata and returns true; false for any other event. */
  take(b: EventBatch, i: number, kind: number, db: number): boolean {
    const m = this.metadata;
    switch (kind) {
      case abi.E_HEADER:
        m.version = b.n1(i);
        m.flavor = b.aux(i) === abi.FLAVOR_VALKEY ? 'valkey' : 'redis';
        return true;
      case abi.E_AUX_KEY: this.pendingAuxKey = b.text(i); return true;
      case abi.E_AUX_VALUE: m.aux.push([this.pendingAuxKey, utf8.decode(b.view(i))]); return true;
      case abi.E_RESIZE_DB: m.resizeHints.set(db, { keys: b.n1(i), expires: b.n2(i) }); return true;
      case abi.E_FUNCTION: {
        // Pre-GA libraries (Redis 7.0 release candidates) also name their library and engine; the code
        // is what both formats have in common.
        const part = b.aux(i);
        if (part === abi.FN_LIBRARY || part === abi.FN_PRE_GA_CODE) m.functions.push(b.text(i));
        return true;
      }
      case abi.E_MODULE_AUX: {
        const { name, version } = decodeModuleId(b.n1Unsigned(i));
        m.moduleAux.push({ moduleName: name, moduleVersion: version, when: b.n2(i) });
        return true;
      }
      case abi.E_EOF: {
        const ck = b.aux(i);
        m.checksum = ck === abi.CK_VERIFIED ? 'verified' : ck === abi.CK_ZERO ? 'zero' : ck === abi.CK_SKIPPED ? 'not-checked' : 'absent';
        return true;
      }
      default:
        return false;
    }
  }
}

/** An AUX field's value as a number, or null when the field is absent or not a number. */
export function auxNumber(metadata: RdbMetadata, name: string): number | null {
  const value = metadata.aux.find(([k]) => k === name)?.[1];
  const n = value === undefined ? NaN : Number(value);
  return Number.isFinite(n) ? n : null;
}

/** When the dump was saved, in Unix ms: its `ctime` AUX field (seconds), or null when it does not say. */
export function savedAtMs(metadata: RdbMetadata): number | null {
  const seconds = auxNumber(metadata, 'ctime');
  return seconds !== null && seconds > 0 ? seconds * 1000 : null;
}

/** The server that wrote the dump: its valkey-ver, else redis-ver AUX field; null when neither is there. */
export function writerOf(aux: ReadonlyArray<readonly [string, string]>): { product: 'Redis' | 'Valkey'; version: string } | null {
  const valkey = aux.find(([k]) => k === 'valkey-ver');
  if (valkey) return { product: 'Valkey', version: valkey[1] };
  const redis = aux.find(([k]) => k === 'redis-ver');
  return redis ? { product: 'Redis', version: redis[1] } : null;
}
