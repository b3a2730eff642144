import type { ContextConfig } from './context-config.js';
import type { StreamConfig } from './stream-config.js';

/**
 * Configuration cache: decoded STEs by StreamID and CDs by (StreamID, SubstreamID). Filled by
 * walks, emptied only by CFGI_* commands (and CFGI_ALL). As in QEMU's SMMUv3, invalidating an
 * STE also drops the CDs that were fetched through it.
 */
export class ConfigCache {
  private readonly stes = new Map<number, StreamConfig>();
  private readonly cds = new Map<number, Map<number, ContextConfig>>();
  /** The entry looked up last (most traffic comes from one stream), cleared with it. */
  private lastSte: StreamConfig | undefined = undefined;

  ste(sid: number): StreamConfig | undefined {
    const last = this.lastSte;
    if (last !== undefined && last.sid === sid) return last;
    const e = this.stes.get(sid);
    if (e !== undefined) this.lastSte = e;
    return e;
  }

  /** The cached STE of `sid`, without touching the lookup memo (a traced walk's probe). */
  peekSte(sid: number): StreamConfig | undefined {
    return this.stes.get(sid);
  }

  putSte(cfg: StreamConfig): void {
    this.stes.set(cfg.sid, cfg);
    this.lastSte = cfg;
  }

  cd(sid: number, ssid: number): ContextConfig | undefined {
    return this.cds.get(sid)?.get(ssid);
  }

  putCd(sid: number, cfg: ContextConfig): void {
    let m = this.cds.get(sid);
    if (!m) {
      m = new Map();
      this.cds.set(sid, m);
    }
    m.set(cfg.ssid, cfg);
  }

  invalidateSte(sid: number): void {
    if (this.lastSte?.sid === sid) this.lastSte = undefined;
    this.stes.delete(sid);
    this.cds.delete(sid);
  }

  invalidateCd(sid: number, ssid: number): void {
    this.cds.get(sid)?.delete(ssid);
  }

  invalidateAllCds(sid: number): void {
    this.cds.delete(sid);
  }

  invalidateAll(): void {
    this.lastSte = undefined;
    this.stes.clear();
    this.cds.clear();
  }

  get size(): { stes: number; cds: number } {
    let cds = 0;
    for (const m of this.cds.values()) cds += m.size;
    return { stes: this.stes.size, cds };
  }
}
