// ICMP and ICMPv6 message names as Hubble's summaries spell them ("ICMPv4 EchoRequest",
// "ICMPv4 DestinationUnreachable(Port)"): the type's name, and the code's in parentheses when
// the type has named codes. Numbers from RFC 792 and RFC 4443.

const V4_TYPES: Record<number, string> = {
  0: 'EchoReply',
  3: 'DestinationUnreachable',
  4: 'SourceQuench',
  5: 'Redirect',
  8: 'EchoRequest',
  9: 'RouterAdvertisement',
  10: 'RouterSolicitation',
  11: 'TimeExceeded',
  12: 'ParameterProblem',
  13: 'TimestampRequest',
  14: 'TimestampReply',
};

const V4_CODES: Record<number, Record<number, string>> = {
  3: {
    0: 'Net', 1: 'Host', 2: 'Protocol', 3: 'Port', 4: 'FragmentationNeeded', 5: 'SourceRoutingFailed', 6: 'NetUnknown',
    7: 'HostUnknown', 8: 'SourceIsolated', 9: 'NetAdminProhibited', 10: 'HostAdminProhibited', 11: 'NetTOS', 12: 'HostTOS',
    13: 'CommAdminProhibited', 14: 'HostPrecedence', 15: 'PrecedenceCutoff',
  },
  5: { 0: 'Network', 1: 'Host', 2: 'TOS+Network', 3: 'TOS+Host' },
  11: { 0: 'TTLExceeded', 1: 'FragmentReassemblyTimeExceeded' },
  12: { 0: 'PointerIndicatesError', 1: 'MissingOption', 2: 'BadLength' },
};

const V6_TYPES: Record<number, string> = {
  1: 'DestinationUnreachable',
  2: 'PacketTooBig',
  3: 'TimeExceeded',
  4: 'ParameterProblem',
  128: 'EchoRequest',
  129: 'EchoReply',
  133: 'RouterSolicitation',
  134: 'RouterAdvertisement',
  135: 'NeighborSolicitation',
  136: 'NeighborAdvertisement',
  137: 'Redirect',
};

const V6_CODES: Record<number, Record<number, string>> = {
  1: { 0: 'NoRouteToDst', 1: 'AdminProhibited', 2: 'BeyondScopeOfSrc', 3: 'AddressUnreachable', 4: 'PortUnreachable', 5: 'SrcAddressFailedPolicy', 6: 'RejectRouteToDst' },
  3: { 0: 'HopLimitExceeded', 1: 'FragmentReassemblyTimeExceeded' },
  4: { 0: 'ErroneousHeaderField', 1: 'UnrecognizedNextHeader', 2: 'UnrecognizedIPv6Option' },
};

export function icmpSummary(family: 4 | 6, type: number, code: number): string {
  const types = family === 4 ? V4_TYPES : V6_TYPES;
  const codes = (family === 4 ? V4_CODES : V6_CODES)[type];
  const name = types[type];
  if (name === undefined) return `${type}(${code})`;
  if (codes === undefined) return code === 0 ? name : `${name}(Code: ${code})`;
  return `${name}(${codes[code] ?? `Code: ${code}`})`;
}
