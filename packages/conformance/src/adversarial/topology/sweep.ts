import type { Device, Machine } from '@ioasid/core';
import { ConformanceFailure } from '../../kit.js';
import { attempt } from '../api.js';
import { hexn } from '../show.js';
import type { Tally } from '../tally.js';
import type { Buffers } from './buffers.js';
import type { TopoModel } from './model.js';

export interface Sweeper {
  m: Machine;
  model: TopoModel;
  buffers: Buffers;
  devs: Map<string, Device>;
  /** IOVA of slot s in every 'map' IOASID. */
  iova(s: number): bigint;
  slots: number;
  tally: Tally;
}

interface Actor {
  dev: string;
  pasid?: number;
}

/**
 * Every (device, PASID) the sweep tries: pdevs with no PASID and with every PASID in use on the
 * machine (a pdev can tag any PASID); mdevs with their default space and the vPASIDs in use.
 */
export function actors(model: TopoModel): Actor[] {
  const inUse = model.pasidsInUse().slice(0, 5);
  const vpasids = [...new Set(model.atts.map((a) => a.userPasid).filter((p): p is number => p !== undefined))].slice(0, 3);
  const out: Actor[] = [];
  for (const d of model.devices) {
    out.push({ dev: d.name });
    for (const p of d.kind === 'mdev' ? vpasids : inUse) out.push({ dev: d.name, pasid: p });
  }
  return out;
}

function who(sw: Sweeper, a: Actor): string {
  return `${sw.model.label(a.dev)}${a.pasid === undefined ? '' : ` with PASID ${a.pasid}`}`;
}

function recover(sw: Sweeper, dev: Device): void {
  attempt(`reset ${dev.name} after a DMA fault`, () => dev.reset());
}

/** Reads 8 bytes at every slot: each read returns a page the model allows, or faults. */
export function readSweep(sw: Sweeper, at: string): void {
  for (const a of actors(sw.model)) {
    const dev = sw.devs.get(a.dev)!;
    for (let s = 0; s < sw.slots; s++) {
      const iova = sw.iova(s);
      const r = attempt(() => `${at}: ${a.dev}.dmaRead(${hexn(iova)}, 8, { pasid: ${a.pasid} })`, () => dev.dmaRead(iova, 8, { pasid: a.pasid }), true);
      sw.tally.add('DMAs checked');
      if (!r.ok) {
        if (r.fault) recover(sw, dev);
        continue;
      }
      const { pages, why } = sw.model.allowed(a.dev, a.pasid, s);
      const got = sw.buffers.owner(r.value);
      if (got !== undefined && pages.has(got)) {
        sw.tally.add('DMAs that reached a page');
        continue;
      }
      const what =
        got === undefined
          ? `bytes that are no buffer page's (host memory outside every map: ${[...r.value].map((b) => b.toString(16).padStart(2, '0')).join(' ')})`
          : `bytes of ${sw.buffers.describe(got)}, mapped there by ${sw.model.holders(got, s)},`;
      throw new ConformanceFailure(
        `isolation: ${who(sw, a)} read ${what} at iova ${hexn(iova)} (slot ${s}); the model says it may reach ${sw.buffers.list(pages)} (${why}) — ${at}`,
      );
    }
  }
}

let seq = 0;

/** Writes a unique marker at every slot: a write that goes through lands in a page the model allows. */
export function writeSweep(sw: Sweeper, at: string): void {
  actors(sw.model).forEach((a, ai) => {
    const dev = sw.devs.get(a.dev)!;
    const off = 512n + BigInt(8 * (ai % 440));
    for (let s = 0; s < sw.slots; s++) {
      const iova = sw.iova(s) + off;
      const n = ++seq;
      const marker = new Uint8Array([0xa5, ai & 0xff, s, n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, 0x5a, 0xc3]);
      const r = attempt(() => `${at}: ${a.dev}.dmaWrite(${hexn(iova)}, …, { pasid: ${a.pasid} })`, () => dev.dmaWrite(iova, marker, { pasid: a.pasid }), true);
      sw.tally.add('DMAs checked');
      if (!r.ok) {
        if (r.fault) recover(sw, dev);
        continue;
      }
      const { pages, why } = sw.model.allowed(a.dev, a.pasid, s);
      const holds = (key: string) => sw.m.vmm.read(sw.buffers.vaOfKey(key) + off, 8).every((b, i) => b === marker[i]);
      if ([...pages].some(holds)) continue;
      const landed = sw.buffers.keys().find(holds);
      const where = landed === undefined ? 'no buffer page (the write went to other host memory)' : `${sw.buffers.describe(landed)} (mapped at that slot by ${sw.model.holders(landed, s)})`;
      throw new ConformanceFailure(
        `isolation: ${who(sw, a)} wrote at iova ${hexn(iova)} (slot ${s}) into ${where}; the model says it may reach ${sw.buffers.list(pages)} (${why}) — ${at}`,
      );
    }
  });
}

/** Faults pile up in the IOASIDs' queues: read them out (a refusal is fine). */
export function drain(sw: Sweeper): void {
  for (const f of sw.model.fds) for (const o of f.ioasids) attempt(`READ_FAULTS(${o.id})`, () => f.fd.readFaults(o.id));
}
