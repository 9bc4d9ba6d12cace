// IP addresses and CIDR prefixes as the policy inputs write them. Parsing is as strict as Go's
// net/netip (no leading zeros in IPv4 octets, no zones), which is what Cilium uses; a prefix
// with host bits set (`10.0.0.1/24`) is accepted and masked, as both the Kubernetes API and
// Cilium accept it. The loader hands the compiler canonical text (RFC 5952 for IPv6), so equal
// addresses are equal strings.

export interface IPAddr {
  family: 4 | 6;
  bytes: Uint8Array;
}

export interface Prefix extends IPAddr {
  bits: number;
}

function parseV4(s: string): Uint8Array | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i];
    if (!/^[0-9]{1,3}$/.test(p) || (p.length > 1 && p[0] === '0')) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseV6(s: string): Uint8Array | undefined {
  if (s.length === 0 || s.includes('%')) return undefined;
  const out = new Uint8Array(16);
  // An embedded IPv4 address in the last 32 bits: `::ffff:192.0.2.1`.
  let tailV4: Uint8Array | undefined;
  let text = s;
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.', lastColon) >= 0) {
    tailV4 = parseV4(s.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    text = s.slice(0, lastColon + 1) + '0:0';
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string): number[] | undefined => {
    if (h === '') return [];
    const out: number[] = [];
    for (const g of h.split(':')) {
      if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (head === undefined || tail === undefined) return undefined;
  if (halves.length === 1 ? head.length !== 8 : head.length + tail.length > 7) return undefined;
  const all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  if (tailV4) out.set(tailV4, 12);
  return out;
}

export function parseIP(s: string): IPAddr | undefined {
  if (s.includes(':')) {
    const b = parseV6(s);
    return b && { family: 6, bytes: b };
  }
  const b = parseV4(s);
  return b && { family: 4, bytes: b };
}

export function formatIP(a: IPAddr): string {
  const b = a.bytes;
  if (a.family === 4) return Array.from(b).join('.');
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[2 * i] << 8) | b[2 * i + 1]);
  // IPv4-mapped addresses keep the dotted tail, as Go and RFC 5952 write them.
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  }
  // RFC 5952: compress the longest run of two or more zero groups (the first one on a tie).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/** `addr/bits`, masked to the prefix. */
export function parsePrefix(s: string): Prefix | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const addr = parseIP(s.slice(0, slash));
  const bitsText = s.slice(slash + 1);
  if (addr === undefined || !/^(0|[1-9][0-9]{0,2})$/.test(bitsText)) return undefined;
  const bits = Number(bitsText);
  if (bits > (addr.family === 4 ? 32 : 128)) return undefined;
  const bytes = addr.bytes.slice();
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - 8 * i));
    bytes[i] &= keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
  }
  return { family: addr.family, bytes, bits };
}

export function formatPrefix(p: Prefix): string {
  return `${formatIP(p)}/${p.bits}`;
}

/** Whether `inner`'s first address lies inside `outer` (same family). */
export function prefixContains(outer: Prefix, inner: IPAddr): boolean {
  if (outer.family !== inner.family) return false;
  for (let bit = 0; bit < outer.bits; bit++) {
    const mask = 0x80 >> (bit % 8);
    const byte = bit >> 3;
    if ((outer.bytes[byte] & mask) !== (inner.bytes[byte] & mask)) return false;
  }
  return true;
}

/** A host address written without a length, as a prefix of the full length. */
export function hostPrefix(a: IPAddr): Prefix {
  return { ...a, bits: a.family === 4 ? 32 : 128 };
}
