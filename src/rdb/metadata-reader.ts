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
