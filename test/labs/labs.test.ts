// Every lab, as CI runs it: its starting files must fail with the expected first message, and
// its solution must pass, in each engine its lab.yaml allows (the kernel where it is available),
// each check in under 5 seconds.

import { describe, expect, test } from 'vitest';
import { findLab, listLabs } from '../../src/labs/catalog.js';
import { checkLab } from '../../src/labs/check.js';
import { firstFailure, type CheckResult } from '../../src/labs/result.js';
import { describeKernel } from '../helpers/kernel.js';
import { cli, started } from './helpers.js';

interface FirstFailure {
  task: string;
  expected: string;
  got: RegExp;
  /** In the kernel, when it differs from the VM's. */
  kernel?: { expected: string; got: RegExp };
}

/** What each lab's starting files must fail with first. */
const START_FAILS: Record<string, FirstFailure> = {
  '01-star-wars': {
    task: 'keep-the-xwing-out',
    expected: 'flow xwing-lands (default/xwing -> default/deathstar TCP/80) is DROPPED',
    got: /^packet #6 was FORWARDED$/,
  },
  '02-namespace-isolation': {
    task: 'isolate-emojivoto',
    expected: 'flow curl-to-web (other/curl -> emojivoto/web TCP/8080) is DROPPED',
    got: /^packet #29 was FORWARDED$/,
  },
  '03-podinfo-l3l4': {
    task: 'keep-dns',
    expected: 'flow client-dns (test/podinfo-client -> kube-system/coredns-5d78c9869d-x7k2p UDP/53) is FORWARDED',
    got: /^packet #1 was DROPPED \(Policy denied at test\/podinfo-client egress, no rule allows it\)$/,
  },
  '04-cidr-except': {
    task: 'api-metadata-blocked',
    expected: 'flow api-to-metadata (apps/api-6f7b9c5d8-r2kq4 -> ip:169.254.169.254 TCP/80) is DROPPED',
    got: /^packet #9 was FORWARDED \(allowed by api-egress: allow egress to cidr 0\.0\.0\.0\/0/,
  },
  '05-l7-http': {
    task: 'empire-only',
    expected: 'flow xwing-lands (default/xwing -> default/deathstar TCP/80) is DROPPED',
    got: /^packet #14 was FORWARDED \(no rule decided\); the connection is not redirected to the L7 proxy/,
  },
  '06-deny-precedence': {
    task: 'deny-wins',
    expected: 'flow payments-to-legacy-db (payments/payments-api-5c6d7f8b9-k4m2n -> legacy/legacy-db-0 TCP/5432) is DROPPED',
    got: /^packet #6 was FORWARDED \(allowed by payments-egress: /,
  },
  '07-identities': {
    task: 'under-the-limit',
    expected: "every endpoint's policy map holds at most 16,384 entries per direction",
    got: /^shop\/orders-api-\S+ ingress needs 16,804 entries \(565 identities\)$/,
  },
  '08-service-load-balancing': {
    task: 'drain-cart-1',
    expected: 'no connection reaches shop/cart-1',
    got: /^flow checkout-to-cart-05 \(shop\/checkout-7d9f8b6c5-x2vql -> ip:10\.96\.0\.40 TCP\/80\) reached shop\/cart-1 \(packet #21\)$/,
  },
  '09-iptables-vs-maps': {
    task: 'which-grows',
    expected: 'grows: the path whose cost per packet grows with the number of services (iptables, maps)',
    got: /^grows is not answered yet$/,
  },
  '10-xdp-drop-port': {
    task: 'survive-short-packets',
    expected: 'every packet of flow runt (ip:10.0.2.20 -> ip:10.0.2.15 UDP/9999) gets XDP_PASS',
    got: /^packet #10: the VM stopped the program\npacket #10: request of flow runt, cut to 36 of 51 bytes\n.*insn \d+ \(xdp_drop_port\.bpf\.c:39:11: if \(udp->dest == bpf_htons\(BLOCKED_PORT\)\)\).*out-of-bounds read of 2 bytes.*\[VM_OOB_ACCESS\]\n/,
    kernel: { expected: 'the kernel loads xdp_drop_port.bpf.o', got: /invalid access to packet[\s\S]*\[KERNEL_ERROR\][\s\S]*In the VM, packet #10 stops the program: .*xdp_drop_port\.bpf\.c:39:11.*\[VM_OOB_ACCESS\]/ },
  },
};

const labs = listLabs();

test('every lab is covered here, and labs 1 to 10 exist', () => {
  const names = labs.map((l) => `${String(l.number).padStart(2, '0')}-${l.slug}`);
  expect(names).toEqual(expect.arrayContaining(Object.keys(START_FAILS)));
  for (const n of names) expect(START_FAILS[n], `${n} needs an expected first failure in this test`).toBeDefined();
});

function expectFirstFailure(r: CheckResult, want: FirstFailure, engine: 'vm' | 'kernel'): void {
  expect(r.passed).toBe(false);
  const f = firstFailure(r);
  expect(f?.task.id).toBe(want.task);
  const w = engine === 'kernel' && want.kernel ? want.kernel : want;
  expect(f?.failure?.expected).toBe(w.expected);
  const text = [f?.failure?.got ?? '', ...(f?.failure?.detail ?? [])].join('\n');
  expect(text).toMatch(w.got);
}

async function solved(n: number): Promise<string> {
  const dir = await started(n);
  const r = await cli('lab', 'solution', dir, '--apply');
  expect(r.status).toBe(0);
  return dir;
}

for (const lab of labs) {
  const name = `${String(lab.number).padStart(2, '0')}-${lab.slug}`;
  describe(`lab ${name} in the VM`, () => {
    test('the starting files fail with the expected first message', async () => {
      const r = await checkLab(findLab(name), await started(lab.number));
      expectFirstFailure(r, START_FAILS[name]!, 'vm');
    });
    test('the solution passes', async () => {
      const r = await checkLab(findLab(name), await solved(lab.number));
      expect(r.tasks.map((t) => [t.task.id, t.status, t.failure])).toEqual(r.tasks.map((t) => [t.task.id, 'pass', undefined]));
      expect(r.passed).toBe(true);
    });
  });
  if (lab.engines.includes('kernel')) {
    describeKernel(`lab ${name} in the kernel`, () => {
      test('the starting files fail with the expected first message', async () => {
        const r = await checkLab(findLab(name), await started(lab.number), { kernel: true });
        expect(r.engine).toBe('kernel');
        expectFirstFailure(r, START_FAILS[name]!, 'kernel');
      });
      test('the solution passes', async () => {
        const r = await checkLab(findLab(name), await solved(lab.number), { kernel: true });
        expect(r.tasks.map((t) => [t.task.id, t.status, t.failure])).toEqual(r.tasks.map((t) => [t.task.id, 'pass', undefined]));
      });
    });
  }
}
