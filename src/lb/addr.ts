// IP address text for the load balancer: parse IPv4/IPv6 text into bytes and print the one
// canonical form (dotted quad; RFC 5952 compressed lowercase IPv6), so that frontends and
// backends compare and sort by value and a model never holds two spellings of one address.

import { formatIPBytes, parseIPBytes } from '../util/ip.js';

export type Family = 4 | 6;

/** The address as 4 or 16 bytes in network order, or undefined when the text is not an address. */
export function parseAddr(text: string): Uint8Array | undefined {
  return parseIPBytes(text);
}

/** The canonical text of 4 or 16 address bytes. */
export function formatAddr(b: Uint8Array): string {
  return formatIPBytes(b);
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
