// src/engine: the entry point callers use to get an engine by kind, and the comparison of two
// runs. The VM engine is imported lazily so that a command that needs only the kernel (or only
// `inspect`) never instantiates the wasm module, and so that a missing or broken VM engine is one
// clear error at the moment someone asks for it.

import { TwinpathError } from '../errors.js';
import type { Engine, EngineKind } from './engine.js';
import { kernelEngine } from './kernel.js';

export type * from './engine.js';
export { kernelEngine } from './kernel.js';
export { compareRuns, describeDifference, summarizeDifferences, type CompareOptions, type Difference, type MapLike } from './compare.js';
export { actionName, hookRetval } from './actions.js';
export { updateMany, updateEntries, writeArrayValues, type BulkMap } from './bulk.js';
export { checkedMaxEntries } from './sizes.js';

// In a variable so that TypeScript does not require the module to exist at build time.
const VM_MODULE = './vm.js';

let vm: Promise<Engine> | undefined;

async function loadVm(): Promise<Engine> {
  let mod: { vmEngine?: Engine };
  try {
    mod = (await import(VM_MODULE)) as { vmEngine?: Engine };
  } catch (e) {
    const code = (e as { code?: string }).code;
    const missing = code === 'ERR_MODULE_NOT_FOUND' || /Cannot find module|Failed to load url|Does the file exist/i.test((e as Error).message ?? '');
    if (missing && /vm\.(js|ts)/.test((e as Error).message ?? '')) {
      throw new TwinpathError('ENGINE_UNAVAILABLE', 'the VM engine (src/engine/vm.ts) is not part of this build yet; use --engine kernel', {}, { cause: e });
    }
    throw e;
  }
  if (!mod.vmEngine) throw new TwinpathError('ENGINE_UNAVAILABLE', 'src/engine/vm.js does not export vmEngine');
  return mod.vmEngine;
}

/** The engine of a kind. The kernel engine is always returned; opening an object with it fails
 * with KERNEL_UNAVAILABLE (and the reason) where the kernel cannot be used. */
export async function getEngine(kind: EngineKind): Promise<Engine> {
  if (kind === 'kernel') return kernelEngine;
  if (kind === 'vm') {
    vm ??= loadVm();
    try {
      return await vm;
    } catch (e) {
      vm = undefined; // let a later call try again (tests, or a file that appeared meanwhile)
      throw e;
    }
  }
  throw new TwinpathError('USAGE', `unknown engine "${String(kind)}" (vm or kernel)`);
}
