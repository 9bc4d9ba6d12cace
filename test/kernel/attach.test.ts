// Kernel engine: attaching to real interfaces. Each test gets a fresh veth pair (host end here,
// peer end in a fresh network namespace), attaches tc and XDP programs to the host end by
// ifindex, checks with iproute2 that the kernel shows them, detaches, and always removes the
// pair and namespace, which also drops any attachment a failed test left behind.

import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import {
  KernelObject,
  attachTc,
  attachXdp,
  destroyClsact,
  detachTc,
  detachXdp,
  ifindexOf,
  queryTc,
  queryXdp,
  type XdpMode,
} from '../../src/kernel/index.js';
import { createVethPair, describeKernel, kernelFixture, sh, type VethPair } from '../helpers/kernel.js';

describeKernel('kernel attach (tc, XDP) on a veth pair', () => {
  let tc: KernelObject;
  let xdp: KernelObject;
  let pair: VethPair | undefined;
  const made: VethPair[] = [];

  beforeAll(() => {
    tc = KernelObject.open(kernelFixture('tc_mark'), 'tc_mark.bpf.o').load();
    xdp = KernelObject.open(kernelFixture('xdp_grow'), 'xdp_grow.bpf.o').load();
  });
  beforeEach(() => {
    pair = createVethPair();
    made.push(pair);
  });
  afterEach(() => {
    if (!pair) return;
    // Detach first so a failure here is visible in the kernel state check below, then remove
    // the interfaces, which takes anything still attached with them.
    const ifindex = (() => {
      try {
        return ifindexOf(pair.host);
      } catch {
        return undefined;
      }
    })();
    if (ifindex !== undefined) {
      for (const mode of ['skb', 'drv'] as XdpMode[]) {
        try {
          detachXdp(ifindex, mode);
        } catch {
          // nothing attached in that mode
        }
      }
      try {
        destroyClsact(ifindex);
      } catch {
        // no qdisc
      }
    }
    pair.remove();
    pair = undefined;
  });
  afterAll(() => {
    tc?.close();
    xdp?.close();
    // Nothing this suite made may survive it.
    const links = sh('ip', '-o', 'link', 'show');
    const namespaces = sh('ip', 'netns', 'list');
    for (const p of made) {
      expect(links).not.toContain(`${p.host}@`);
      expect(namespaces).not.toContain(p.netns);
    }
  });

  it('attaches tc programs to ingress and egress, and detaches them', () => {
    const { host, peer, netns } = pair!;
    expect(sh('ip', '-n', netns, '-o', 'link', 'show', peer)).toContain(peer);
    const ifindex = ifindexOf(host);
    const prog = tc.program('tc_mark');
    const id = prog.info().id;

    const ingress = attachTc(ifindex, 'ingress', prog);
    const egress = attachTc(ifindex, 'egress', prog, { handle: 7, priority: 3 });
    expect(ingress).toMatchObject({ ifindex, direction: 'ingress', progId: id });
    expect(ingress.handle).toBeGreaterThan(0);
    expect(ingress.priority).toBeGreaterThan(0);
    expect(egress).toMatchObject({ handle: 7, priority: 3, progId: id });
    expect(queryTc(ingress)).toBe(id);
    expect(queryTc(egress)).toBe(id);
    expect(sh('tc', 'qdisc', 'show', 'dev', host)).toContain('clsact');
    const shownIn = sh('tc', 'filter', 'show', 'dev', host, 'ingress');
    expect(shownIn).toContain(`id ${id}`);
    expect(shownIn).toContain('direct-action');
    expect(sh('tc', 'filter', 'show', 'dev', host, 'egress')).toMatch(new RegExp(`pref 3 bpf .*handle 0x7 .*id ${id}`, 's'));

    // The same handle and priority again is refused unless asked to replace.
    expect(() => attachTc(ifindex, 'egress', prog, { handle: 7, priority: 3 })).toThrow(
      expect.objectContaining({ errnoName: 'EEXIST' }),
    );
    attachTc(ifindex, 'egress', prog, { handle: 7, priority: 3, replace: true });

    detachTc(ingress);
    expect(queryTc(ingress)).toBeUndefined();
    expect(sh('tc', 'filter', 'show', 'dev', host, 'ingress')).not.toContain(`id ${id}`);
    expect(() => detachTc(ingress)).toThrow(expect.objectContaining({ code: 'KERNEL_ERROR' }));
    detachTc(egress);
    expect(sh('tc', 'filter', 'show', 'dev', host, 'egress')).not.toContain(`id ${id}`);
    destroyClsact(ifindex);
    expect(sh('tc', 'qdisc', 'show', 'dev', host)).not.toContain('clsact');
    destroyClsact(ifindex); // already gone: fine
  });

  for (const mode of ['drv', 'skb'] as const) {
    it(`attaches an XDP program in ${mode} mode, and detaches it`, () => {
      const { host } = pair!;
      const ifindex = ifindexOf(host);
      const prog = xdp.program('xdp_grow');
      const id = prog.info().id;

      attachXdp(ifindex, prog, { mode });
      const q = queryXdp(ifindex);
      expect(q.progId).toBe(id);
      expect(mode === 'drv' ? q.drvProgId : q.skbProgId).toBe(id);
      const shown = sh('ip', '-d', 'link', 'show', 'dev', host);
      expect(shown).toContain(`prog/xdp id ${id}`);
      expect(shown).toMatch(mode === 'skb' ? / xdpgeneric / : / xdp /);

      expect(() => attachXdp(ifindex, prog, { mode, replace: false })).toThrow(expect.objectContaining({ code: 'KERNEL_ERROR' }));

      detachXdp(ifindex, mode);
      expect(queryXdp(ifindex).progId).toBe(0);
      expect(sh('ip', '-d', 'link', 'show', 'dev', host)).not.toContain(`id ${id}`);
    });
  }

  it('reports a missing interface', () => {
    const prog = tc.program();
    const gone = ifindexOf(pair!.host);
    pair!.remove();
    expect(() => attachTc(gone, 'ingress', prog)).toThrow(expect.objectContaining({ code: 'KERNEL_ERROR' }));
    expect(() => attachXdp(gone, xdp.program(), { mode: 'skb' })).toThrow(expect.objectContaining({ errnoName: 'ENODEV' }));
    expect(() => ifindexOf(pair!.host)).toThrow(expect.objectContaining({ code: 'KERNEL_ERROR' }));
  });
});
