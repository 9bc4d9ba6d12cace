// The one IP address parser and printer: Go net/netip strictness, RFC 5952 text.

import { describe, expect, it } from 'vitest';
import { formatIPBytes, formatIPv6, parseIPBytes, parseIPv4, parseIPv6 } from '../../src/util/ip.js';

describe('parseIPv4', () => {
  it('reads four decimal octets', () => {
    expect(Array.from(parseIPv4('10.0.255.1')!)).toEqual([10, 0, 255, 1]);
  });
  it.each(['010.0.0.1', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.x', '', '1..2.3'])('refuses %s', (s) => {
    expect(parseIPv4(s)).toBeUndefined();
  });
});

describe('parseIPv6', () => {
  it('reads groups, one ::, and a dotted tail', () => {
    expect(formatIPv6(parseIPv6('FD00:0:0:0:0:0:0:1')!)).toBe('fd00::1');
    expect(Array.from(parseIPv6('::ffff:192.0.2.1')!.subarray(10))).toEqual([0xff, 0xff, 192, 0, 2, 1]);
    expect(formatIPv6(parseIPv6('1:2:3:4:5:6:7:8')!)).toBe('1:2:3:4:5:6:7:8');
  });
  it.each(['1::2::3', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7::8', 'fe80::1%eth0', '1.2.3.4::', '::1.2.3', '12345::', ''])('refuses %s', (s) => {
    expect(parseIPv6(s)).toBeUndefined();
  });
});

describe('RFC 5952 text', () => {
  it.each([
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // the first of two equal runs
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group stays
    ['0:0:0:0:0:0:0:0', '::'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'], // the longest run
  ])('%s is written %s', (text, want) => {
    expect(formatIPBytes(parseIPBytes(text)!)).toBe(want);
  });
  it('reads 16 bytes at an offset', () => {
    const b = new Uint8Array(20);
    b.set(parseIPv6('fd00::2')!, 4);
    expect(formatIPv6(b, 4)).toBe('fd00::2');
  });
  it('prints IPv4 as a dotted quad', () => {
    expect(formatIPBytes(parseIPBytes('192.168.0.1')!)).toBe('192.168.0.1');
  });
});
