// Node attachment: the endpoint datapath on a real node's interfaces, pinned, updated in place,
// observed, and removed again.

export { attachNode, checkNodePrerequisites, detachNode, isBpffs, nodeStatus, PROG_FROM_NETDEV, TC_HANDLE, TC_PRIORITY, type AttachOptions, type AttachResult, type DetachResult, type HookStatus, type NodeStatus } from './attach.js';
export { parseInterfaceMap, readInterfaceMap, routeDevice } from './interfaces.js';
export { localEndpoints, type PodInterface } from './local.js';
export { checkNodeName, defaultNodeName, nodeStateDir, pinDirOf, sandboxNodeName } from './names.js';
export { changedIdentities, ipcacheSteps, planUpdate, replay, type PlanStep, type UpdateCounts, type UpdatePlan } from './plan.js';
export { attachSandbox, detachSandbox, sandboxAttachments, type SandboxAttachOptions } from './sandbox.js';
export { listNodeStates, readNodeState, type EndpointRecord, type HookRecord, type NodeState } from './state.js';
export {
  applyPrefilter, parsePrefilterCidrs, prefilterTables, readPrefilter, readPrefilterCounters, PREFILTER_MAPS, PREFILTER_OBJECT, PROG_XDP_PREFILTER,
  type PrefilterCounters, type PrefilterMaps,
} from './prefilter.js';
export { ServiceProber, HeldConnection, type ServiceConnection } from './service_probe.js';
export { compileNodeServices, lbTables, planServices, type LbStep, type NodeServices } from './services.js';
export { desiredTables, nodeAddressMap, type LocalEndpoint, type Tables } from './tables.js';
export { clearConntrack, currentTables, DEFAULT_GRACE_MS, openPinned, targetTables, updateNodes, type UpdateOptions, type UpdateReport, type UpdateResult } from './update.js';
