import type { CaseDef, Caps } from '../types.js';
import {
  check,
  closeFd,
  expectDmaFault,
  expectErrno,
  expectOk,
  firstFormat,
  fmtValue,
  gpaSpace,
  guestData,
  guestTable,
  label,
  openFd,
  pattern,
  sameBytes,
} from '../kit.js';
import { checkNestedReach } from '../reach.js';
import { bindNestedRoute, nestedRouteNeeds, rejectsNestedRoutes, routeMachine } from '../nested-route.js';
import type { Machine } from '@ioasid/core';

function needs(caps: Caps): string | null {
  const route = nestedRouteNeeds(caps, caps.pri);
  if (route) return `${route}, so no fault reaches a guest table`;
  if (!caps.pri.pageRequest) return 'GET_INFO pageRequest is false for a PRI-capable device';
  return null;
}

/** A PRI device attached to a bound guest table whose page `gva2` is not mapped yet. */
function setup(m: Machine, caps: Caps) {
  const { fd, devs } = openFd(m, 'pri0');
  const dev = devs[0];
  const { parent, info } = gpaSpace(m, fd, [dev]);
  const format = firstFormat(info);
  const gt = guestTable(m, format);
  const a = guestData(m, gt.page, 70);
  const gva1 = 2n * gt.page;
  const gva2 = 6n * gt.page;
  gt.pt.map(gva1, a.gpa, gt.page, { read: true, write: true });
  const { child, pasid: vp } = bindNestedRoute(m, fd, parent, dev, caps, info, gt, { pasid: true, preferred: 1 });
  sameBytes(expectOk(() => dev.dmaRead(gva1, 64, { pasid: vp }), 'DMA to a mapped page'), a.bytes, 'mapped page before the fault');
  return { fd, dev, parent, child, vp, gt, gva2 };
}

/**
 * Proposal §5.6: an I/O page fault on a guest table travels to the user as a page request
 * labelled with the device; the guest maps the page; PAGE_RESPONSE reaches the device; the
 * DMA retried succeeds.
 */
export const pageFaultCase: CaseDef = {
  id: '5.6-page-fault',
  group: 'scenario',
  title: '5.6 I/O page fault: page request on READ_FAULTS, guest maps, INVALIDATE_CACHE, PAGE_RESPONSE, retry',
  needs,
  rejects(env, caps) {
    if (nestedRouteNeeds(caps, caps.pri)) {
      rejectsNestedRoutes(env, caps.pri);
      return;
    }
    // No page requests: the fault is reported as unrecoverable and cannot be answered.
    const m = routeMachine(env, caps, caps.pri);
    const s = setup(m, caps);
    expectDmaFault(s.dev, () => s.dev.dmaWrite(s.gva2, pattern(71, 8), { pasid: s.vp }), 'DMA to an unmapped guest page');
    const faults = s.fd.readFaults(s.child);
    check(faults.length > 0 && faults.every((f) => f.kind === 'unrecoverable'),
      () => `without page-request support the fault is unrecoverable: ${fmtValue(faults)}`);
    expectErrno(() => s.fd.pageResponse({ ioasid: s.child, id: faults[0].id, code: 'success' }), 'ENOENT', 'PAGE_RESPONSE to a fault that is not a page request');
    closeFd(s.fd);
  },
  run(env, caps) {
    const m = routeMachine(env, caps, caps.pri);
    const s = setup(m, caps);
    const { fd, dev, child, vp, gt, gva2 } = s;
    fd.readFaults(child);
    const data = pattern(72, 16);
    const f = expectDmaFault(dev, () => dev.dmaWrite(gva2 + 0x10n, data, { pasid: vp }), 'DMA to a guest page not mapped yet');
    check(f.record.rid === dev.rid, () => `fault record RID ${fmtValue(f.record.rid)}, expected ${dev.rid}`);
    const faults = fd.readFaults(child);
    const req = faults.find((x) => x.kind === 'page-request');
    check(req, () => `READ_FAULTS(child) must show a page request: ${fmtValue(faults)}`);
    check(req.device === 'pri0' && req.label === label('pri0'), () => `the page request names the device by its label: ${fmtValue(req)}`);
    check(req.write === true && gva2 + 0x10n - req.iova >= 0n && gva2 + 0x10n - req.iova < gt.page, () => `the page request carries the faulting write and IOVA: ${fmtValue(req)}`);
    if (vp !== undefined) check(req.pasid === vp, () => `the page request carries the vPASID ${vp}: ${fmtValue(req)}`);
    const parentFaults = fd.readFaults(s.parent);
    check(!parentFaults.some((x) => x.kind === 'page-request'), () => `the page request is reported on the child, not the parent: ${fmtValue(parentFaults)}`);

    // The guest resolves the fault, invalidates, and answers.
    const b = guestData(m, gt.page, 73);
    gt.pt.map(gva2, b.gpa, gt.page, { read: true, write: true });
    expectOk(() => fd.invalidateCache({ ioasid: child, iova: gva2, size: gt.page }), 'INVALIDATE_CACHE of the faulting page');
    const before = dev.pageResponses.length;
    expectOk(() => fd.pageResponse({ ioasid: child, id: req.id, code: 'success' }), 'PAGE_RESPONSE(success)');
    const got = dev.pageResponses.slice(before);
    check(got.length === 1 && got[0].code === 'success' && gva2 + 0x10n - got[0].iova >= 0n && gva2 + 0x10n - got[0].iova < gt.page,
      () => `the device receives one successful response for the faulting page: ${fmtValue(got)}`);
    if (vp !== undefined) check(got[0].pasid === vp, () => `the response carries the vPASID: ${fmtValue(got[0])}`);
    expectErrno(() => fd.pageResponse({ ioasid: child, id: req.id, code: 'success' }), 'ENOENT', 'a second PAGE_RESPONSE to the same request');
    expectErrno(() => fd.pageResponse({ ioasid: child, id: req.id, code: 'maybe' as never }), 'EINVAL', 'PAGE_RESPONSE with a bad code');

    // The device retries.
    expectOk(() => dev.dmaWrite(gva2 + 0x10n, data, { pasid: vp }), 'retried DMA after PAGE_RESPONSE');
    sameBytes(m.guest.read(b.gpa + 0x10n, data.length), data, 'the retried write lands in the page the guest mapped');
    checkNestedReach(m, dev, gva2 + 0x10n, { pasid: vp, write: true }, 'the retried write');
    closeFd(fd);
  },
};
