// The part of the WebAssembly JS API twinpath uses. Node provides it at run time, but
// @types/node for Node 20 does not declare it, and the DOM library would bring much more.

declare namespace WebAssembly {
  class Module {
    constructor(bytes: BufferSource);
  }
  class Instance {
    constructor(module: Module, imports?: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, unknown>;
  }
  class Memory {
    readonly buffer: ArrayBuffer;
    grow(pages: number): number;
  }
  type BufferSource = ArrayBufferView | ArrayBuffer;
}
