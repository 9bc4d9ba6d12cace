// Checksums the packet builder writes and the tests verify: the Internet checksum (RFC 1071)
// used by IPv4, TCP, UDP, ICMP and ICMPv6, and CRC32c (Castagnoli) used by SCTP (RFC 9260).

/** One's-complement sum of 16-bit big-endian words over all parts, folded, not yet inverted. */
function onesSum(parts: readonly Uint8Array[]): number {
  let sum = 0;
  let odd: number | undefined; // a part of odd length leaves its last byte to pair with the next
  for (const p of parts) {
    let i = 0;
    if (odd !== undefined && p.length > 0) {
      sum += (odd << 8) | p[0]!;
      odd = undefined;
      i = 1;
    }
    for (; i + 1 < p.length; i += 2) sum += (p[i]! << 8) | p[i + 1]!;
    if (i < p.length) odd = p[i]!;
    if (sum > 0x7fffffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  }
  if (odd !== undefined) sum += odd << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** The Internet checksum of the concatenated parts, as it goes into a header field. */
export function internetChecksum(...parts: Uint8Array[]): number {
  return ~onesSum(parts) & 0xffff;
}

/** True when data that includes its checksum field sums to all ones, i.e. the checksum is right. */
export function internetChecksumValid(...parts: Uint8Array[]): boolean {
  return onesSum(parts) === 0xffff;
}

/** IPv4 or IPv6 pseudo-header for a TCP, UDP or ICMPv6 checksum. */
export function pseudoHeader(src: Uint8Array, dst: Uint8Array, protocol: number, length: number): Uint8Array {
  if (src.length === 4) {
    const p = new Uint8Array(12);
    p.set(src, 0);
    p.set(dst, 4);
    p[9] = protocol;
    p[10] = length >> 8;
    p[11] = length & 0xff;
    return p;
  }
  const p = new Uint8Array(40);
  p.set(src, 0);
  p.set(dst, 16);
  new DataView(p.buffer).setUint32(32, length);
  p[39] = protocol;
  return p;
}

let crcTable: Uint32Array | undefined;

/** CRC32c, reflected polynomial 0x82f63b78, as SCTP stores it (little-endian in the packet). */
export function crc32c(data: Uint8Array): number {
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = crcTable[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
