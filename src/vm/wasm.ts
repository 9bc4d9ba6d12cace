// Loads the committed VM module (wasm/twinpath-vm.wasm) once per process and gives typed access
// to its exports and memory. The module is compiled synchronously: it is small, and a
// synchronous API keeps the CLI and the conformance plugin simple.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface VmExports {
  memory: WebAssembly.Memory;
  tp_alloc(size: number): number;
  tp_free(addr: number): void;
  vm_report_addr(): number;
  vm_config_addr(): number;
  vm_exec_trace_addr(): number;
  vm_load(insns: number, n: number, helperSet: number): number;
  vm_unload(handle: number): void;
  vm_run(handle: number): number;
  vm_env_addr(): number;
  vm_ctx_in_addr(): number;
  vm_ctx_size(hook: number): number;
  vm_packet_buffer(hook: number, len: number): number;
  vm_set_ctx_in(present: number): void;
  vm_run_packet(handle: number, budgetLo: number, budgetHi: number): number;
  vm_helper_known(id: number): number;
  [name: string]: unknown;
}

let compiled: WebAssembly.Module | undefined;

/** Path of the VM module, the same relative place from src/vm and from dist/vm. */
export const WASM_PATH = fileURLToPath(new URL('../../wasm/twinpath-vm.wasm', import.meta.url));

export function instantiateVm(): VmExports {
  compiled ??= new WebAssembly.Module(readFileSync(WASM_PATH));
  const instance = new WebAssembly.Instance(compiled, {});
  return instance.exports as unknown as VmExports;
}
