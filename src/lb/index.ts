// src/lb: service load balancing. compileServices turns a cluster's Services and EndpointSlices
// into a plain model; writeLbMaps puts it into the maps of an object that includes
// bpf/lib/lb.h; maglevTable and flowHash are the two functions both engines' results follow.

export { compileServices, groupKey, type CompileOptions } from './compile.js';
export { maglevTable, checkTableSize, isPrime, permutation, fnv1a64, mix64, MAX_MAGLEV_TABLE_SIZE } from './maglev.js';
export { flowHash, flowHashWords, maglevSlot, FLOW_HASH_SEED, type FlowTuple } from './flowhash.js';
export {
  writeLbMaps, writeLbContents, lbMapEntries, lbSmallEntries, maglevRows, maglevBytes, lbGlobals, LB_MAPS, LB_MAP_LAYOUT,
  LB_TABLE_SIZE_GLOBAL, LB_WRITE_ORDER, type MaglevRows, type LbTarget,
  encodeServiceKey, encodeService, encodeBackend, encodeRevNat, encodeAffinityMatch,
} from './maps.js';
export { canonicalAddr, parseAddr, formatAddr, endpointKey } from './addr.js';
export * from './model.js';
