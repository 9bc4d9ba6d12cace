// Symbolic names of the return codes tc and XDP programs give their hook (enum xdp_action in
// <linux/bpf.h>, TC_ACT_* in <linux/pkt_cls.h>), as `twinpath run` prints them. Written from the
// kernel's documentation of those values.

import type { Hook } from '../elf/object.js';

const XDP_ACTIONS = ['XDP_ABORTED', 'XDP_DROP', 'XDP_PASS', 'XDP_TX', 'XDP_REDIRECT'] as const;

const TC_ACTIONS = [
  'TC_ACT_OK', 'TC_ACT_RECLASSIFY', 'TC_ACT_SHOT', 'TC_ACT_PIPE', 'TC_ACT_STOLEN',
  'TC_ACT_QUEUED', 'TC_ACT_REPEAT', 'TC_ACT_REDIRECT', 'TC_ACT_TRAP',
] as const;

/**
 * r0 as the hook reads it: the tc hook takes an int (so TC_ACT_UNSPEC is -1), XDP a u32 action.
 * Engines report the low 32 bits; this gives the number people see.
 */
export function hookRetval(hook: Hook, retval: number): number {
  return hook === 'tc' ? retval | 0 : retval >>> 0;
}

/** `XDP_PASS`, `TC_ACT_SHOT`, ...; `UNKNOWN(n)` for a number the hook does not define. */
export function actionName(hook: Hook, retval: number): string {
  const r = hookRetval(hook, retval);
  if (hook === 'xdp') return XDP_ACTIONS[r] ?? `UNKNOWN(${r})`;
  if (r === -1) return 'TC_ACT_UNSPEC';
  return TC_ACTIONS[r] ?? `UNKNOWN(${r})`;
}
