import type { DeviceDesc, FaultRecord, PageResponseCode } from '@ioasid/core';
import { OP, PRI_RESP_DENY, PRI_RESP_FAIL, PRI_RESP_SUCC, RESUME_ABORT, RESUME_RETRY } from './tables/commands.js';
import type { CommandQueue } from './cmdq.js';

/** PAGE_RESPONSE: CMD_RESUME for a stalled transaction, CMD_PRI_RESP for a PCIe page request. */
export function pageResponse(cmdq: CommandQueue, dev: DeviceDesc, pasid: number, record: FaultRecord, code: PageResponseCode): void {
  const sid = dev.rid;
  if (record.stall) {
    cmdq.issue([[OP.RESUME, { SID: sid, STAG: record.stag as number, RESUME_RESP: code === 'success' ? RESUME_RETRY : RESUME_ABORT }]]);
    return;
  }
  if (record.prgIndex === undefined) return;
  const resp = code === 'success' ? PRI_RESP_SUCC : code === 'invalid' ? PRI_RESP_DENY : PRI_RESP_FAIL;
  const ssv = pasid >= 0;
  cmdq.issue([[OP.PRI_RESP, { SID: sid, SSV: ssv ? 1 : 0, SSID: ssv ? pasid : 0, GRPID: record.prgIndex as number, PRI_RESP: resp }]]);
}
