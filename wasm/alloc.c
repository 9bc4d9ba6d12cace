/* The VM's memory allocator: power-of-two size classes over wasm linear memory, growing the
 * memory as needed. Programs, maps and run buffers are few and long-lived, so simplicity wins
 * over packing; every block carries its class in a header so vm_free needs no size. */
#include "vm.h"

extern u8 __heap_base;

#define MIN_CLASS 4   /* 16 bytes */
#define MAX_CLASS 30  /* 1 GiB */
#define HEADER 16     /* keeps 16-byte alignment for the payload */

static uptr heap_top;
static void *free_lists[MAX_CLASS + 1];

static u32 class_of(u32 size) {
  u32 c = MIN_CLASS;
  while (c <= MAX_CLASS && ((u32)1 << c) < size + HEADER) c++;
  return c;
}

static void *grow(u32 bytes) {
  if (heap_top == 0) heap_top = ((uptr)&__heap_base + 15) & ~(uptr)15;
  uptr start = heap_top;
  uptr end = start + bytes;
  if (end < start) return NULL;
  uptr have = __builtin_wasm_memory_size(0) * 65536ul;
  if (end > have) {
    uptr pages = (end - have + 65535) / 65536;
    if (__builtin_wasm_memory_grow(0, pages) == (uptr)-1) return NULL;
  }
  heap_top = end;
  return (void *)start;
}

void *vm_malloc(u32 size) {
  u32 c = class_of(size);
  if (c > MAX_CLASS) return NULL;
  u8 *block = free_lists[c];
  if (block) {
    free_lists[c] = *(void **)(block + HEADER);
  } else {
    block = grow((u32)1 << c);
    if (!block) return NULL;
  }
  *(u32 *)block = c;
  return block + HEADER;
}

void *vm_calloc(u32 size) {
  void *p = vm_malloc(size);
  if (p) vm_memset(p, 0, size);
  return p;
}

void vm_free(void *p) {
  if (!p) return;
  u8 *block = (u8 *)p - HEADER;
  u32 c = *(u32 *)block;
  *(void **)p = free_lists[c];
  free_lists[c] = block;
}
