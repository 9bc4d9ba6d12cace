// The sandbox: a cluster built in network namespaces on this machine, and live probes in it.

export { computeLayout, DEFAULT_EXTERNALS, type Layout, type LayoutNode, type LayoutPod } from './layout.js';
export { DEFAULT_SANDBOX_NAME, bpffsDirOf, checkSandboxName, netnsPrefix, stateDir } from './names.js';
export { openSandbox, sandboxDown, sandboxNames, sandboxStatus, sandboxUp, type DownResult, type SandboxStatus, type UpOptions } from './sandbox.js';
export { readState, statePath, type NodeState, type PodState, type SandboxState } from './state.js';
export { agentPath, liveProbe, LiveProber, type LiveProbeOptions, type LiveProbeResult, type LiveProbeSpec, type LiveProtocol } from './live.js';
export { execIn } from './system.js';
