/* The exported surface of the VM module: memory for TypeScript to fill, program load and unload,
 * and runs. Everything crossing the boundary is a plain number or an address in linear memory. */
#include "vm.h"

struct vm_report vm_report;
struct vm_run_config vm_run_cfg;
struct vm_exec_trace vm_exec_trace;

#define MAX_PROGS 4096
static struct vm_prog *progs[MAX_PROGS];

EXPORT("tp_alloc") u32 tp_alloc(u32 size) { return (u32)(uptr)vm_malloc(size); }
EXPORT("tp_free") void tp_free(u32 addr) { vm_free((void *)(uptr)addr); }
EXPORT("vm_report_addr") u32 vm_report_addr(void) { return (u32)(uptr)&vm_report; }
EXPORT("vm_config_addr") u32 vm_config_addr(void) { return (u32)(uptr)&vm_run_cfg; }
EXPORT("vm_exec_trace_addr") u32 vm_exec_trace_addr(void) { return (u32)(uptr)&vm_exec_trace; }

static void clear_report(void) { vm_memset(&vm_report, 0, sizeof vm_report); }

/* Loads n 8-byte slots at `insns` (copied, so the caller may free them). Returns a program
 * handle > 0, or 0 with the reason in vm_report. */
EXPORT("vm_load") u32 vm_load(u32 insns, u32 n, u32 helper_set) {
  clear_report();
  u32 slot = 0;
  for (u32 k = 1; k < MAX_PROGS; k++)
    if (!progs[k]) { slot = k; break; }
  struct vm_prog *p = vm_calloc(sizeof *p);
  u64 *raw = n ? vm_malloc(n * 8) : NULL;
  struct dinsn *code = n ? vm_malloc(n * sizeof(struct dinsn)) : NULL;
  u32 *ord = n ? vm_malloc(n * 4) : NULL;
  if (!slot || !p || (n && (!raw || !code || !ord))) {
    vm_free(p); vm_free(raw); vm_free(code); vm_free(ord);
    vm_report.status = VM_ERR_OUT_OF_MEMORY;
    return 0;
  }
  if (n) vm_memcpy(raw, (const void *)(uptr)insns, n * 8);
  if (vm_validate(raw, n, helper_set, code) != VM_OK) {
    vm_free(p); vm_free(raw); vm_free(code); vm_free(ord);
    return 0;
  }
  for (u32 k = 0, count = 0; k < n; k++) {
    ord[k] = count;
    if (code[k].op == EBPF_OP_LDDW) ord[++k] = count + 1;
    count++;
  }
  p->handle = slot;
  p->n_slots = n;
  p->helper_set = helper_set;
  p->raw = raw;
  p->code = code;
  p->ord = ord;
  progs[slot] = p;
  return slot;
}

const struct vm_prog *vm_prog_by_handle(u32 handle) {
  return handle && handle < MAX_PROGS ? progs[handle] : NULL;
}

EXPORT("vm_unload") void vm_unload(u32 handle) {
  if (handle == 0 || handle >= MAX_PROGS || !progs[handle]) return;
  struct vm_prog *p = progs[handle];
  vm_free((void *)p->raw);
  vm_free(p->code);
  vm_free(p->ord);
  vm_free(p);
  progs[handle] = NULL;
}

/* Runs a program with the registers, budget and regions written at vm_config_addr(). Returns
 * the status; r0 and the instruction count are in vm_report. */
EXPORT("vm_run") u32 vm_run(u32 handle) {
  if (handle == 0 || handle >= MAX_PROGS || !progs[handle]) {
    clear_report();
    vm_report.status = VM_ERR_BAD_CALL_TARGET;
    return VM_ERR_BAD_CALL_TARGET;
  }
  if (vm_run_cfg.n_regions > VM_MAX_REGIONS) vm_run_cfg.n_regions = VM_MAX_REGIONS;
  vm_report.status = VM_OK;
  vm_env.hook = VM_HOOK_RAW;
  return vm_execute(progs[handle], &vm_run_cfg, &vm_env);
}

/* The layouts TypeScript reads and writes (src/vm/vm.ts); a change here must change it there. */
_Static_assert(__builtin_offsetof(struct vm_run_config, budget) == 48, "config layout");
_Static_assert(__builtin_offsetof(struct vm_run_config, n_regions) == 56, "config layout");
_Static_assert(__builtin_offsetof(struct vm_run_config, regions) == 64, "config layout");
_Static_assert(sizeof(struct vm_region) == 16, "region layout");
_Static_assert(__builtin_offsetof(struct vm_report, insn) == 8, "report layout");
_Static_assert(__builtin_offsetof(struct vm_report, addr) == 16, "report layout");
_Static_assert(__builtin_offsetof(struct vm_report, size) == 24, "report layout");
_Static_assert(__builtin_offsetof(struct vm_report, detail) == 32, "report layout");
_Static_assert(__builtin_offsetof(struct vm_report, r0) == 40, "report layout");
_Static_assert(__builtin_offsetof(struct vm_report, executed) == 48, "report layout");
_Static_assert(__builtin_offsetof(struct vm_report, stack_lo) == 56, "report layout");
_Static_assert(__builtin_offsetof(struct vm_report, regions) == 64, "report layout");
_Static_assert(__builtin_offsetof(struct vm_report, prog) == 64 + 16 * VM_MAX_REGIONS, "report layout");
_Static_assert(sizeof(struct vm_exec_rec) == VM_EXEC_RECORD_SIZE, "exec record layout");
_Static_assert(__builtin_offsetof(struct vm_exec_rec, kind) == 8, "exec record layout");
_Static_assert(__builtin_offsetof(struct vm_exec_rec, aux) == 12, "exec record layout");
_Static_assert(__builtin_offsetof(struct vm_exec_rec, value) == 16, "exec record layout");
_Static_assert(__builtin_offsetof(struct vm_exec_rec, addr) == 24, "exec record layout");
_Static_assert(__builtin_offsetof(struct vm_exec_trace, count) == 16, "exec trace layout");
