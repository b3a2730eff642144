import fc from 'fast-check';
import type { Device } from '@ioasid/core';
import type { CaseDef, Caps, KitEnv } from '../types.js';
import { check, checkRefusal, closeFd, expectOk, fmtValue, newMachine, openFd, pattern, pickPasid, sameBytes, tryDma, vmmBuffer } from '../kit.js';
import { assertProperty, drainFaults, probeWindow, type Window } from './common.js';

const SLOTS = 8;
/** Pages per address space; the VMM buffer holds SPACES × POOL pages, each space its own. */
const POOL = 8;

interface Space {
  name: string;
  /** Slot → pool page index, from the random draw. */
  maps: [number, number][];
}

interface Actor {
  name: string;
  dev: Device;
  pasid?: number;
  /** The space it must reach, if any. */
  space?: number;
}

const spaceMaps = fc
  .tuple(fc.shuffledSubarray([...Array(SLOTS).keys()]), fc.shuffledSubarray([...Array(POOL).keys()], { minLength: POOL, maxLength: POOL }))
  .map(([slots, pages]) => slots.map((s, i): [number, number] => [s, pages[i]]));

function runIsolation(env: KitEnv, caps: Caps, w: Window, draws: [number, number][][]): void {
  const m = newMachine(env);
  // PASID-granular spaces where a kernel-managed IOASID takes them (a vendor may refuse with EINVAL).
  const pasid = caps.pasidMapAttach === true;
  const mdev = caps.mdevAttach === true;
  const names = ['dev0', 'dev1', 'pri0', ...(mdev ? ['md0'] : [])];
  const { fd, devs } = openFd(m, ...names);
  const [d0, d1, pri] = devs;
  const vp = pickPasid(caps.dev.pasidBits, 7);
  const spaces: Space[] = [
    { name: 'A (dev0 RID)', maps: draws[0] },
    { name: 'B (dev1 RID)', maps: draws[1] },
    ...(pasid ? [{ name: `C (dev0 vPASID ${vp})`, maps: draws[2] }] : []),
    ...(mdev ? [{ name: 'D (md0)', maps: draws[3] }] : []),
  ];
  const va = vmmBuffer(m, BigInt(4 * POOL) * w.g, w.g);
  const pageVa = (space: number, p: number) => va + BigInt(space * POOL + p) * w.g;
  const tag = (space: number, p: number) => pattern(2000 + space * POOL + p, 8);
  for (let s = 0; s < spaces.length; s++) for (let p = 0; p < POOL; p++) m.vmm.write(pageVa(s, p), tag(s, p));

  const ids = spaces.map((sp) => expectOk(() => fd.alloc({ protocol: 'map' }), `ALLOC ${sp.name}`));
  expectOk(() => d0.attachIoasid(ids[0]), 'ATTACH dev0 → A');
  expectOk(() => d1.attachIoasid(ids[1]), 'ATTACH dev1 → B');
  if (pasid) expectOk(() => d0.attachIoasid(ids[2], { userPasid: vp }), `ATTACH dev0 → C with vPASID ${vp}`);
  if (mdev) expectOk(() => devs[3].attachIoasid(ids[spaces.length - 1]), 'ATTACH md0 → D');
  spaces.forEach((sp, i) => {
    for (const [s, p] of sp.maps) {
      expectOk(() => fd.mapDma({ ioasid: ids[i], iova: w.base + BigInt(s) * w.g, vaddr: pageVa(i, p), size: w.g }), `MAP_DMA ${sp.name} slot ${s} → page ${p}`);
    }
  });

  const actors: Actor[] = [
    { name: 'dev0', dev: d0, space: 0 },
    { name: 'dev1', dev: d1, space: 1 },
    { name: 'pri0 (never attached)', dev: pri },
  ];
  if (pasid) {
    const other = vp + 1 < 2 ** caps.dev.pasidBits ? vp + 1 : vp - 1;
    actors.push({ name: `dev0 vPASID ${vp}`, dev: d0, pasid: vp, space: 2 }, { name: `dev1 vPASID ${vp} (not attached)`, dev: d1, pasid: vp });
    if (other > 0) actors.push({ name: `dev0 vPASID ${other} (not attached)`, dev: d0, pasid: other });
  }
  if (mdev) actors.push({ name: 'md0', dev: devs[3], space: spaces.length - 1 });

  // Reads: an actor reaches exactly its own space's pages, and faults everywhere else.
  for (const a of actors) {
    for (let s = 0; s < SLOTS; s++) {
      const iova = w.base + BigInt(s) * w.g;
      const hit = a.space === undefined ? undefined : spaces[a.space].maps.find(([x]) => x === s);
      const r = tryDma(a.dev, () => a.dev.dmaRead(iova, 8, { pasid: a.pasid }), `${a.name} read slot ${s}`);
      if (!hit) check(!r.ok, () => `${a.name} read slot ${s}: nothing it may reach is mapped there, but the DMA returned ${fmtValue(r.ok ? [...r.value] : null)}`);
      else {
        check(r.ok, () => `${a.name} read slot ${s}: its space maps page ${hit[1]}, but the DMA faulted (${r.ok ? '' : r.fault.message})`);
        if (r.ok) sameBytes(r.value, tag(a.space!, hit[1]), `${a.name} read slot ${s}: must see page ${hit[1]} of ${spaces[a.space!].name}`);
      }
    }
  }

  // Writes: every actor writes its marker at every slot; each page ends up with its owner's marker or none.
  for (let s = 0; s < spaces.length; s++) for (let p = 0; p < POOL; p++) m.vmm.write(pageVa(s, p) + 128n, new Uint8Array(4));
  actors.forEach((a, ai) => {
    for (let s = 0; s < SLOTS; s++) tryDma(a.dev, () => a.dev.dmaWrite(w.base + BigInt(s) * w.g + 128n, new Uint8Array([0xa0 + ai, s, 0x5a, 0xa5]), { pasid: a.pasid }), `${a.name} write slot ${s}`);
  });
  for (let sp = 0; sp < spaces.length; sp++) {
    for (let p = 0; p < POOL; p++) {
      const got = m.vmm.read(pageVa(sp, p) + 128n, 4);
      const slotOf = spaces[sp].maps.find(([, q]) => q === p)?.[0];
      const owner = actors.findIndex((a) => a.space === sp);
      const want = slotOf === undefined ? new Uint8Array(4) : new Uint8Array([0xa0 + owner, slotOf, 0x5a, 0xa5]);
      sameBytes(got, want, `page ${p} of ${spaces[sp].name}: only its own device may write it (marker = [0xa0 + writer, slot])`);
    }
  }
  drainFaults(m);
  closeFd(fd);
}

/** Isolation: a device (RID, RID + vPASID, mdev) reaches only what its own IOASID maps. */
export const isolationCase: CaseDef = {
  id: 'prop-isolation',
  group: 'property',
  title: 'property: isolation — each device/PASID reads and writes only the pages its own IOASID maps',
  run(env, caps) {
    checkRefusal(caps.pasidMapAttach, 'ATTACH of a vPASID to a map IOASID');
    checkRefusal(caps.mdevAttach, 'ATTACH of an mdev to a map IOASID');
    const w = probeWindow(env, SLOTS);
    assertProperty(env, 'prop-isolation', fc.tuple(spaceMaps, spaceMaps, spaceMaps, spaceMaps), (draws) => runIsolation(env, caps, w, draws));
  },
};
