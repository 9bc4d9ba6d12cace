// src/pcap: reading and writing packet captures (classic pcap and pcapng), link-layer
// conversion to Ethernet, and a deterministic packet builder. Other modules import from here.

export * from './types.js';
export { readCapture, readCaptureSync, readCaptureSettled, detectFormat, type CaptureSource, type CaptureFormat } from './reader.js';
export * from './linktype.js';
export * from './writer.js';
export * from './checksum.js';
export * as build from './build.js';
