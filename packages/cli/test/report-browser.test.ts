/// <reference lib="dom" />
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/program.js';
import { memoryIo } from '../src/io.js';
import { launchChromium } from './browser.js';
import './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'ioasid-browser-'));
const flow = join(dir, 'flow.yaml');
writeFileSync(
  flow,
  `title: a mapped page, read, then unmapped
steps:
  - bind: { device: dev0 }
  - alloc: {}
    as: gpa
  - attach: { device: dev0, ioasid: $gpa }
  - map: { ioasid: $gpa, iova: 0x200000, size: 2M }
  - map: { ioasid: $gpa, iova: 0x40000000, size: 64K }
  - dma-read: { device: dev0, iova: 0x200010, length: 4 }
    title: the device reads the page
  - unmap: { ioasid: $gpa, iova: 0x200000, size: 2M }
  - dma-read: { device: dev0, iova: 0x200010, length: 4, fault: true }
`,
);

async function report(args: string[], name: string): Promise<string> {
  const out = join(dir, name);
  const io = memoryIo();
  const code = await runCli(['report', ...args, '-o', out], io);
  expect(code, io.stderr).toBe(0);
  return out;
}

/** Share of the screenshot's pixels that are not the page background (decoded in the page itself). */
async function inkedShare(page: Page): Promise<number> {
  const png = (await page.screenshot({ fullPage: true })).toString('base64');
  return page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width;
    c.height = img.height;
    const g = c.getContext('2d')!;
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let inked = 0;
    for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - 0xfa) + Math.abs(d[i + 1] - 0xfb) + Math.abs(d[i + 2] - 0xfc) > 24) inked++;
    return inked / (d.length / 4);
  }, png);
}

describe('reports as a person sees them, in headless Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  it('shows the walk of a known IOVA as SVG nodes with their fields, and the walked entries highlighted in the table', async () => {
    const file = await report([flow, '--vendor', 'mock'], 'mock.html');
    const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
    await page.goto(pathToFileURL(file).href);
    const step = page.locator('#step-6');
    // The walk: registers, the device-table slot, three table levels, the output.
    const nodes = step.locator('svg.walk g.node');
    expect(await nodes.count()).toBe(6);
    const slot = await step.locator('g.node[data-structure="device-table slot"] text').allTextContents();
    expect(slot).toEqual(['1. device-table slot', expect.stringMatching(/^at 0x[0-9a-f]+ = 0x[0-9a-f]{16}$/), expect.stringMatching(/^V=1 DT=0 ROOT=0x[0-9a-f]+000$/)]);
    expect(await step.locator('g.node[data-structure="level 0 entry"] text').first().textContent()).toBe('4. level 0 entry (level 0, index 0)');
    expect(await step.locator('g.node.out text').first().textContent()).toMatch(/^→ host physical 0x[0-9a-f]+010 RW$/);
    // The table: one highlighted row per level on the way to 0x200010, all visible.
    const walked = step.locator('svg.tree g.row.walked');
    expect(await walked.count()).toBe(3);
    for (let i = 0; i < 3; i++) expect(await walked.nth(i).isVisible()).toBe(true);
    expect(await walked.allTextContents()).toEqual([expect.stringMatching(/^\[0\] table → 0x/), expect.stringMatching(/^\[1\] table → 0x/), expect.stringMatching(/^\[0\] leaf → 0x/)]);
    const hl = await step.locator('svg.tree rect.hit').first().evaluate((r) => getComputedStyle(r).fill);
    expect(hl).toBe('rgb(255, 241, 168)');
    expect(await step.locator('svg.tree g.table.on-path').count()).toBe(3);
    // Step 8: the fault, in red.
    expect(await page.locator('#step-8 .outcome-fault').textContent()).toMatch(/^blocked: NOT_PRESENT \(3\)/);
    // Not blank: a good share of the page is drawn.
    expect(await inkedShare(page)).toBeGreaterThan(0.05);
    await page.close();
  }, 60_000);

  it('reads at a laptop width: the vendors sit side by side and nothing but the drawings scrolls', async () => {
    const file = await report(['5.1-simple-dma', '--vendor', 'intel-vtd,arm-smmuv3,power-tce'], 'all.html');
    const page = await browser.newPage({ viewport: { width: 1366, height: 800 } });
    await page.goto(pathToFileURL(file).href);
    const widths = await page.evaluate(() => ({ doc: document.documentElement.scrollWidth, view: window.innerWidth }));
    expect(widths.doc).toBeLessThanOrEqual(widths.view);
    const heads = await page.locator('table.timeline thead th').allTextContents();
    expect(heads.slice(2).map((h) => h.split(' ')[0])).toEqual(['intel-vtd', 'arm-smmuv3', 'power-tce']);
    expect(await page.locator('table.timeline tbody tr').count()).toBeGreaterThan(5);
    await page.close();
  }, 120_000);

  it('real nested flows: 5.4 on VT-d and 5.7 on SMMUv3 show each unit\'s structures in spec order, the nested stage-2 sub-walks and the walked stage-2 entries', async () => {
    const file = await report(['5.4-hardware-nesting', '--vendor', 'intel-vtd'], '54.html');
    const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
    await page.goto(pathToFileURL(file).href);
    const step = page.locator('#step-12');
    expect(await step.locator('h3').textContent()).toMatch(/^Step 12: read by dev1 at 0x100000/);
    const vtd = step.locator('.vendor[data-vendor="intel-vtd"] svg.walk g.node');
    const structures = await vtd.evaluateAll((gs) => gs.map((g) => g.getAttribute('data-structure')));
    // VT-d §9: root → context → PASID directory → PASID entry, then PML4E … PTE, each first-stage
    // table found through a second-stage walk of its GPA, and the output page's GPA walked last.
    expect(structures.slice(0, 5)).toEqual(['registers', 'scalable-mode root entry', 'scalable-mode context entry', 'scalable-mode PASID directory entry', 'scalable-mode PASID table entry']);
    expect(structures.filter((x) => ['PML4E', 'PDPE', 'PDE', 'PTE'].includes(x!))).toEqual(['PML4E', 'PDPE', 'PDE', 'PTE']);
    expect(await step.locator('.vendor[data-vendor="intel-vtd"] svg.walk g.node.via').count()).toBeGreaterThanOrEqual(12);
    expect(await step.locator('.vendor[data-vendor="intel-vtd"] svg.walk g.node.out text').first().textContent()).toMatch(/^→ host physical 0x[0-9a-f]+ RW$/);
    // The stage-2 table of the GPA IOASID, with the entries the walk read highlighted and visible.
    const walked = step.locator('.vendor[data-vendor="intel-vtd"] svg.tree g.row.walked');
    expect(await walked.count()).toBeGreaterThanOrEqual(3);
    expect(await walked.first().isVisible()).toBe(true);
    expect(await inkedShare(page)).toBeGreaterThan(0.05);
    await page.close();
    // SMMUv3 nests with the guest's own CD table (5.7): the STE, then the guest's linear CD table
    // fetched at an IPA through stage 2 (STE.S1ContextPtr, SMMUv3 §5.2), then the guest's stage 1.
    const file57 = await report(['5.7-bind-pasid-table', '--vendor', 'arm-smmuv3'], '57.html');
    const page57 = await browser.newPage({ viewport: { width: 1366, height: 900 } });
    await page57.goto(pathToFileURL(file57).href);
    const read = page57.locator('#step-13');
    expect(await read.locator('h3').textContent()).toMatch(/^Step 13: read by dev1 at 0x200000/);
    const arm = await read.locator('.vendor[data-vendor="arm-smmuv3"] svg.walk g.node').evaluateAll((gs) => gs.map((g) => g.getAttribute('data-structure')));
    expect(arm.filter((x) => ['L1STD', 'STE', 'L1CD', 'CD'].includes(x!))).toEqual(['L1STD', 'STE', 'CD']);
    expect(await read.locator('.vendor[data-vendor="arm-smmuv3"] svg.walk g.node.via').count()).toBeGreaterThanOrEqual(12);
    await page57.close();
  }, 120_000);
});

