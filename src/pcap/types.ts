// The record shape every capture reader yields and every writer accepts, and the reader options.
// Kept free of parsing code so that consumers (datapath replay, flows, CLI) import only this.

/** One captured packet, whatever the file format it came from. */
export interface CaptureRecord {
  /** Position of the packet in the file, counting from 0 across all pcapng sections. */
  index: number;
  /** pcapng interface (index within its section); always 0 for classic pcap. */
  interfaceId: number;
  /** LINKTYPE_* value (the file's link-layer header type), with any FCS bits masked off. */
  linkType: number;
  /** Absolute time in nanoseconds since the Unix epoch, after if_tsresol and if_tsoffset. */
  timestampNs: bigint;
  capturedLength: number;
  originalLength: number;
  /** Exactly capturedLength bytes, owned by the record (never a view into a reused buffer). */
  data: Uint8Array;
  /** opt_comment values of the packet block, joined with newlines when there are several. */
  comment?: string;
}

export interface ReadOptions {
  /** Name used in error locations; defaults to the path when the source is a path. */
  file?: string;
  /** Bytes requested from the file per read (the streaming window grows only for a larger record). */
  chunkSize?: number;
  /**
   * Largest record or block accepted, in bytes. Anything claiming more is a bad record rather
   * than an allocation, so a fuzzed length field cannot make the reader use unbounded memory.
   */
  maxRecordBytes?: number;
  /**
   * A record whose captured length exceeds the snaplen is PCAP_BAD_RECORD by default. 'truncate'
   * does what libpcap (and so tcpdump) does instead: keep the first snaplen bytes, skip the rest.
   */
  oversizedRecords?: 'error' | 'truncate';
}

export const DEFAULT_CHUNK_SIZE = 64 * 1024;
/** libpcap rejects blocks above 16 MiB by default; we allow a bit more before calling it corrupt. */
export const DEFAULT_MAX_RECORD_BYTES = 64 * 1024 * 1024;
/** libpcap's largest snapshot length for most link types, used when a header's snaplen is unusable. */
export const MAX_SNAPLEN = 262144;
