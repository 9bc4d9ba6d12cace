/* The boundary between the wasm VM and TypeScript: status codes, region kinds and helper sets.
 * scripts/gen-constants.mjs turns these #defines into TypeScript; keep one plain number a line. */
#ifndef TWINPATH_VM_ABI_H
#define TWINPATH_VM_ABI_H

/* Status of a load or a run (0 is success). */
#define VM_OK 0
#define VM_ERR_BAD_OPCODE 1
#define VM_ERR_BAD_REGISTER 2
#define VM_ERR_BAD_FIELD 3
#define VM_ERR_JUMP_OUT_OF_RANGE 4
#define VM_ERR_BAD_LDDW 5
#define VM_ERR_FALLTHROUGH 6
#define VM_ERR_CALL_DEPTH 7
#define VM_ERR_UNKNOWN_HELPER 8
#define VM_ERR_EMPTY_PROGRAM 9
#define VM_ERR_TOO_LARGE 10
#define VM_ERR_UNSUPPORTED 11
#define VM_ERR_OOB_ACCESS 12
#define VM_ERR_BUDGET_EXHAUSTED 13
#define VM_ERR_BAD_CALL_TARGET 14
#define VM_ERR_OUT_OF_MEMORY 15
#define VM_ERR_MAP_HELPER 16

/* Which field of an instruction VM_ERR_BAD_FIELD or VM_ERR_BAD_REGISTER names (vm_error.detail). */
#define VM_FIELD_DST 1
#define VM_FIELD_SRC 2
#define VM_FIELD_OFF 3
#define VM_FIELD_IMM 4

/* Kinds of memory region a program may touch. */
#define VM_REGION_STACK 1
#define VM_REGION_INPUT 2
#define VM_REGION_CTX 3
#define VM_REGION_PACKET 4
#define VM_REGION_MAP_VALUE 5
#define VM_REGION_GLOBAL 6

/* Region access rights. */
#define VM_REGION_READ 1
#define VM_REGION_WRITE 2

/* Access kinds reported with VM_ERR_OOB_ACCESS. */
#define VM_ACCESS_READ 1
#define VM_ACCESS_WRITE 2
#define VM_ACCESS_ATOMIC 3

/* Helper sets a program is loaded against: the hook decides which helpers it may call. */
#define VM_HELPERS_NONE 0
#define VM_HELPERS_CONFORMANCE 1
#define VM_HELPERS_XDP 2
#define VM_HELPERS_TC 3

/* Hooks a program runs at (vm_env.hook). */
#define VM_HOOK_RAW 0
#define VM_HOOK_XDP 1
#define VM_HOOK_TC 2

/* Packet buffer geometry, as the kernel's test run lays it out. */
#define VM_XDP_HEADROOM 256
#define VM_XDP_FRAME_SIZE 4096
#define VM_SKB_SHARED_INFO 320
#define VM_SKB_HEADROOM 64
#define VM_MAX_PACKET 65535

/* Value tag of a function address (ld_imm64 with BPF_PSEUDO_FUNC): tag in the high 32 bits,
 * instruction index in the low 32. Only helpers that take callbacks accept it. */
#define VM_FUNC_TAG 0x66756e63
#define VM_MAX_TAIL_CALLS 33
#define VM_TRACE_CAP 65536

/* Kinds of record in the execution trace of a traced run (struct vm_exec_rec.kind): what the
 * instruction did, so that TypeScript reads what the run knew (a jump taken, a tail call made)
 * instead of working it out again. */
#define VM_EXEC_ALU 1
#define VM_EXEC_LOAD 2
#define VM_EXEC_STORE 3
#define VM_EXEC_ATOMIC 4
#define VM_EXEC_JUMP 5
#define VM_EXEC_HELPER 6
#define VM_EXEC_CALL 7
#define VM_EXEC_EXIT 8
#define VM_EXEC_TAIL_CALL 9
/* vm_exec_rec.reg when the record carries no register value. */
#define VM_EXEC_NO_REG 255
#define VM_EXEC_RECORD_SIZE 32

/* Fixed capacities. */
#define VM_MAX_REGIONS 64
/* The most bytes one map's arena may take (512 MiB): more gives ENOMEM, as a kernel out of
 * memory would. An ARRAY's arena is max_entries values rounded up to 8 bytes each. */
#define VM_MAP_MAX_ARENA 0x20000000

#endif
