// Addresses and prefixes as the loader reads them: Go netip strictness, RFC 5952 output, masking.

import { describe, expect, it } from 'vitest';
import { formatIP, formatPrefix, parseIP, parsePrefix, prefixContains } from '../../src/policy/load_ip.js';

const canon = (s: string): string | undefined => {
  const a = parseIP(s);
  return a && formatIP(a);
};

describe('IP addresses', () => {
  it('reads IPv4 strictly', () => {
    expect(canon('10.244.1.17')).toBe('10.244.1.17');
    expect(canon('0.0.0.0')).toBe('0.0.0.0');
    for (const bad of ['10.0.0', '10.0.0.256', '010.0.0.1', '10.0.0.1 ', '1.2.3.4.5', '', 'a.b.c.d', '10.0.0.-1']) {
      expect(canon(bad), bad).toBeUndefined();
    }
  });

  it('reads IPv6 and writes it as RFC 5952 says', () => {
    expect(canon('fd00:10:244:1::0011')).toBe('fd00:10:244:1::11');
    expect(canon('2001:DB8:0:0:0:0:0:1')).toBe('2001:db8::1');
    expect(canon('::')).toBe('::');
    expect(canon('::1')).toBe('::1');
    expect(canon('1::')).toBe('1::');
    // The longest zero run is compressed, the first on a tie, never a single group.
    expect(canon('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(canon('2001:0:0:1:0:0:0:1')).toBe('2001:0:0:1::1');
    expect(canon('2001:db8:0:1:1:1:1:1')).toBe('2001:db8:0:1:1:1:1:1');
    expect(canon('::ffff:192.0.2.1')).toBe('::ffff:192.0.2.1');
    expect(canon('64:ff9b::192.0.2.1')).toBe('64:ff9b::c000:201');
    for (const bad of ['1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1::2::3', 'fe80::1%eth0', '12345::', ':1', 'g::1', '::ffff:1.2.3']) {
      expect(canon(bad), bad).toBeUndefined();
    }
  });
});

describe('prefixes', () => {
  it('masks host bits and refuses bad lengths', () => {
    expect(formatPrefix(parsePrefix('10.0.0.1/24')!)).toBe('10.0.0.0/24');
    expect(formatPrefix(parsePrefix('10.1.2.3/0')!)).toBe('0.0.0.0/0');
    expect(formatPrefix(parsePrefix('2001:db8::ff/121')!)).toBe('2001:db8::80/121');
    expect(formatPrefix(parsePrefix('fd00::1/128')!)).toBe('fd00::1/128');
    for (const bad of ['10.0.0.0/33', '10.0.0.0/08', '10.0.0.0/', '10.0.0.0', '::/129', '10.0.0.0/-1', '/8']) {
      expect(parsePrefix(bad), bad).toBeUndefined();
    }
  });

  it('containment is per family and per bit', () => {
    const p = parsePrefix('10.0.0.0/15')!;
    expect(prefixContains(p, parseIP('10.1.255.255')!)).toBe(true);
    expect(prefixContains(p, parseIP('10.2.0.0')!)).toBe(false);
    expect(prefixContains(parsePrefix('::/0')!, parseIP('10.0.0.1')!)).toBe(false);
    expect(prefixContains(parsePrefix('0.0.0.0/0')!, parseIP('10.0.0.1')!)).toBe(true);
  });
});
