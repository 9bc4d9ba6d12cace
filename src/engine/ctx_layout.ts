// Byte offsets of the context structs BPF_PROG_TEST_RUN takes in and gives back: the fields of
// `struct __sk_buff` (tc) and `struct xdp_md` (XDP) that the kernel engine reads or writes, and
// which of them a test run accepts. Offsets were worked out from the UAPI definitions in
// <linux/bpf.h> (every member is a __u32 except the 64-bit timestamps and pointer slots) and are
// checked against offsetof() by a C program in test/engine/ctx_layout.test.ts.
//
// What a test run accepts was found by experiment on Linux 6.x (one field non-zero at a time):
// anything not listed in *_CTX_IN makes BPF_PROG_TEST_RUN fail with EINVAL, and the kernel copies
// back exactly the *_CTX_OUT fields (everything else in ctx_out is zero, `len` included).

export interface CtxField {
  /** The UAPI member name; array elements as `cb[0]`. */
  name: string;
  offset: number;
  /** 4 or 8 bytes. */
  size: 4 | 8;
}

/** sizeof(struct __sk_buff). The kernel refuses a longer ctx_in whose tail is not zero. */
export const SK_BUFF_SIZE = 192;
/** sizeof(struct xdp_md). */
export const XDP_MD_SIZE = 24;

const u32 = (name: string, offset: number): CtxField => ({ name, offset, size: 4 });
const u64 = (name: string, offset: number): CtxField => ({ name, offset, size: 8 });

/** struct __sk_buff members up to hwtstamp, in layout order (the socket-only block omitted). */
export const SK_BUFF: readonly CtxField[] = [
  u32('len', 0),
  u32('pkt_type', 4),
  u32('mark', 8),
  u32('queue_mapping', 12),
  u32('protocol', 16),
  u32('vlan_present', 20),
  u32('vlan_tci', 24),
  u32('vlan_proto', 28),
  u32('priority', 32),
  u32('ingress_ifindex', 36),
  u32('ifindex', 40),
  u32('tc_index', 44),
  u32('cb[0]', 48),
  u32('cb[1]', 52),
  u32('cb[2]', 56),
  u32('cb[3]', 60),
  u32('cb[4]', 64),
  u32('hash', 68),
  u32('tc_classid', 72),
  u32('data', 76),
  u32('data_end', 80),
  u32('napi_id', 84),
  u32('data_meta', 140),
  u64('tstamp', 152),
  u32('wire_len', 160),
  u32('gso_segs', 164),
  u32('gso_size', 176),
  u64('hwtstamp', 184),
];

export const XDP_MD: readonly CtxField[] = [
  u32('data', 0),
  u32('data_end', 4),
  u32('data_meta', 8),
  u32('ingress_ifindex', 12),
  u32('rx_queue_index', 16),
  u32('egress_ifindex', 20),
];

/**
 * __sk_buff fields a tc test run takes from ctx_in. Constraints the kernel adds: `ifindex` must
 * name a device in the caller's network namespace (0 means loopback, ENODEV otherwise), and
 * `wire_len` must be 0 or at least the packet length.
 */
export const TC_CTX_IN: readonly string[] = [
  'mark', 'priority', 'ingress_ifindex', 'ifindex', 'cb[0]', 'cb[1]', 'cb[2]', 'cb[3]', 'cb[4]',
  'tstamp', 'wire_len', 'gso_segs', 'gso_size', 'hwtstamp',
];

/** __sk_buff fields the kernel writes back after a tc test run: the same set. Fields a program
 * may write but the kernel does not report (tc_index, tc_classid, queue_mapping) are invisible. */
export const TC_CTX_OUT: readonly string[] = TC_CTX_IN;

/**
 * xdp_md fields an XDP test run takes besides data/data_end: `ingress_ifindex` must name a
 * device in this namespace, and `rx_queue_index` needs it and must be below that device's
 * number of receive queues; `egress_ifindex` must be 0.
 */
export const XDP_CTX_IN: readonly string[] = ['ingress_ifindex', 'rx_queue_index'];

/** xdp_md fields reported after an XDP run. data/data_end/data_meta come back as offsets into
 * the output (data = the metadata length), which the engine uses to cut the packet instead. */
export const XDP_CTX_OUT: readonly string[] = ['ingress_ifindex', 'rx_queue_index'];

export function ctxField(layout: readonly CtxField[], name: string): CtxField {
  const f = layout.find((x) => x.name === name);
  if (!f) throw new Error(`no context field ${name}`); // a typo in this module, not user input
  return f;
}

// Little-endian byte arithmetic rather than a DataView: these run for every packet, and making
// a DataView costs more than the read.
export function readField(buf: Uint8Array, f: CtxField): number | bigint {
  const o = f.offset;
  const lo = (buf[o]! | (buf[o + 1]! << 8) | (buf[o + 2]! << 16) | (buf[o + 3]! << 24)) >>> 0;
  if (f.size !== 8) return lo;
  const hi = (buf[o + 4]! | (buf[o + 5]! << 8) | (buf[o + 6]! << 16) | (buf[o + 7]! << 24)) >>> 0;
  return (BigInt(hi) << 32n) | BigInt(lo);
}

export function writeField(buf: Uint8Array, f: CtxField, value: number | bigint): void {
  const o = f.offset;
  const v = BigInt.asUintN(64, BigInt(value));
  const lo = Number(v & 0xffffffffn);
  buf[o] = lo & 0xff;
  buf[o + 1] = (lo >>> 8) & 0xff;
  buf[o + 2] = (lo >>> 16) & 0xff;
  buf[o + 3] = lo >>> 24;
  if (f.size === 8) {
    const hi = Number(v >> 32n);
    buf[o + 4] = hi & 0xff;
    buf[o + 5] = (hi >>> 8) & 0xff;
    buf[o + 6] = (hi >>> 16) & 0xff;
    buf[o + 7] = hi >>> 24;
  }
}
