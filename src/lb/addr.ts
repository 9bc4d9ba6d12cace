// IP address text for the load balancer: parse IPv4/IPv6 text into bytes and print the one
// canonical form (dotted quad; RFC 5952 compressed lowercase IPv6), so that frontends and
// backends compare and sort by value and a model never holds two spellings of one address.

export type Family = 4 | 6;

/** The address as 4 or 16 bytes in network order, or undefined when the text is not an address. */
export function parseAddr(text: string): Uint8Array | undefined {
  return text.includes(':') ? parseV6(text) : parseV4(text);
}

function parseV4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    // Leading zeros are refused: some parsers read them as octal, so they are ambiguous.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return undefined;
    out[i] = Number(p);
  }
  return out;
}

function parseV6(text: string): Uint8Array | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const words = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    const parts = s.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseV4(p);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) {
        out.push(parseInt(p, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = words(halves[0]!);
  const tail = halves.length === 2 ? words(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** The canonical text of 4 or 16 address bytes. */
export function formatAddr(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join('.');
  const w: number[] = [];
  for (let i = 0; i < 16; i += 2) w.push((b[i]! << 8) | b[i + 1]!);
  // RFC 5952: the longest run (leftmost on a tie) of two or more zero words becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(w);
  return `${hex(w.slice(0, best))}::${hex(w.slice(best + bestLen))}`;
}

/** The canonical text of an address, or undefined when it is not one. */
export function canonicalAddr(text: string): string | undefined {
  const b = parseAddr(text);
  return b && formatAddr(b);
}

export function familyOf(addr: string): Family {
  return addr.includes(':') ? 6 : 4;
}

/** Orders canonical addresses by family, then by value. */
export function compareAddr(a: string, b: string): number {
  const x = parseAddr(a)!;
  const y = parseAddr(b)!;
  if (x.length !== y.length) return x.length - y.length;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return 0;
}

/** A backend's stable key, used for its Maglev preferences and to keep its id across compiles. */
export function endpointKey(address: string, port: number, protocol: string): string {
  return `${familyOf(address) === 6 ? `[${address}]` : address}:${port}/${protocol}`;
}
