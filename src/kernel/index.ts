// The kernel engine's low-level binding: availability, objects, maps, programs, ring buffers,
// attachment and pinning. The Engine implementation over it lives elsewhere.

export { kernelAvailability, type KernelAvailability } from './addon.js';
export { KernelError, isKernelError, type KernelErrorFields } from './error.js';
export {
  BPF_ANY,
  BPF_EXIST,
  BPF_F_LOCK,
  BPF_NOEXIST,
  KernelMap,
  KernelObject,
  KernelProgram,
  PROG_TYPES,
  RingBufferReader,
  TC_TEST_RUN_MAX_PACKET,
  numPossibleCpus,
  type GlobalInfo,
  type MapInfo,
  type ObjectInfo,
  type ProgInfo,
  type TestRunOptions,
  type TestRunResult,
  type UpdateFlag,
} from './bpf.js';
export {
  attachTc,
  attachXdp,
  destroyClsact,
  detachTc,
  detachXdp,
  ifindexOf,
  queryTc,
  queryXdp,
  unpin,
  type TcAttachment,
  type TcDirection,
  type XdpMode,
} from './attach.js';
