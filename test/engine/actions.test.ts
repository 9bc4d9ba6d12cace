// Symbolic return codes as `twinpath run` prints them.

import { describe, expect, it } from 'vitest';
import { actionName, hookRetval } from '../../src/engine/actions.js';

describe('actionName', () => {
  it('names every XDP action', () => {
    expect([0, 1, 2, 3, 4].map((r) => actionName('xdp', r))).toEqual(['XDP_ABORTED', 'XDP_DROP', 'XDP_PASS', 'XDP_TX', 'XDP_REDIRECT']);
  });
  it('names every tc action, TC_ACT_UNSPEC as -1 in either form', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8].map((r) => actionName('tc', r))).toEqual([
      'TC_ACT_OK', 'TC_ACT_RECLASSIFY', 'TC_ACT_SHOT', 'TC_ACT_PIPE', 'TC_ACT_STOLEN',
      'TC_ACT_QUEUED', 'TC_ACT_REPEAT', 'TC_ACT_REDIRECT', 'TC_ACT_TRAP',
    ]);
    expect(actionName('tc', -1)).toBe('TC_ACT_UNSPEC');
    expect(actionName('tc', 0xffffffff)).toBe('TC_ACT_UNSPEC');
  });
  it('gives UNKNOWN(n) for other numbers, signed for tc and unsigned for XDP', () => {
    expect(actionName('xdp', 5)).toBe('UNKNOWN(5)');
    expect(actionName('xdp', 0xffffffff)).toBe('UNKNOWN(4294967295)');
    expect(actionName('tc', 9)).toBe('UNKNOWN(9)');
    expect(actionName('tc', 0xfffffffe)).toBe('UNKNOWN(-2)');
    expect(hookRetval('tc', 0xffffffff)).toBe(-1);
    expect(hookRetval('xdp', -1)).toBe(0xffffffff);
  });
});
