/* eBPF instruction encoding, as RFC 9669 defines it. This header is the single source of these
 * numbers: scripts/gen-constants.mjs generates src/vm/constants.generated.ts from the #define
 * lines below (names and values only), so keep each constant on one line as a plain number. */
#ifndef TWINPATH_EBPF_H
#define TWINPATH_EBPF_H

/* Instruction classes (low 3 bits of the opcode). */
#define EBPF_CLS_LD 0x00
#define EBPF_CLS_LDX 0x01
#define EBPF_CLS_ST 0x02
#define EBPF_CLS_STX 0x03
#define EBPF_CLS_ALU 0x04
#define EBPF_CLS_JMP 0x05
#define EBPF_CLS_JMP32 0x06
#define EBPF_CLS_ALU64 0x07

/* Source operand (bit 3 of ALU and JMP opcodes). */
#define EBPF_SRC_K 0x00
#define EBPF_SRC_X 0x08

/* ALU operations (high 4 bits). */
#define EBPF_ALU_ADD 0x00
#define EBPF_ALU_SUB 0x10
#define EBPF_ALU_MUL 0x20
#define EBPF_ALU_DIV 0x30
#define EBPF_ALU_OR 0x40
#define EBPF_ALU_AND 0x50
#define EBPF_ALU_LSH 0x60
#define EBPF_ALU_RSH 0x70
#define EBPF_ALU_NEG 0x80
#define EBPF_ALU_MOD 0x90
#define EBPF_ALU_XOR 0xa0
#define EBPF_ALU_MOV 0xb0
#define EBPF_ALU_ARSH 0xc0
#define EBPF_ALU_END 0xd0

/* Byte-swap direction (bit 3 of an ALU END opcode). */
#define EBPF_END_TO_LE 0x00
#define EBPF_END_TO_BE 0x08

/* Jump operations (high 4 bits). */
#define EBPF_JMP_JA 0x00
#define EBPF_JMP_JEQ 0x10
#define EBPF_JMP_JGT 0x20
#define EBPF_JMP_JGE 0x30
#define EBPF_JMP_JSET 0x40
#define EBPF_JMP_JNE 0x50
#define EBPF_JMP_JSGT 0x60
#define EBPF_JMP_JSGE 0x70
#define EBPF_JMP_CALL 0x80
#define EBPF_JMP_EXIT 0x90
#define EBPF_JMP_JLT 0xa0
#define EBPF_JMP_JLE 0xb0
#define EBPF_JMP_JSLT 0xc0
#define EBPF_JMP_JSLE 0xd0

/* Load and store: size (bits 3-4) and mode (bits 5-7). */
#define EBPF_SIZE_W 0x00
#define EBPF_SIZE_H 0x08
#define EBPF_SIZE_B 0x10
#define EBPF_SIZE_DW 0x18
#define EBPF_MODE_IMM 0x00
#define EBPF_MODE_ABS 0x20
#define EBPF_MODE_IND 0x40
#define EBPF_MODE_MEM 0x60
#define EBPF_MODE_MEMSX 0x80
#define EBPF_MODE_ATOMIC 0xc0

/* Atomic operations (imm of an ATOMIC instruction). */
#define EBPF_ATOMIC_ADD 0x00
#define EBPF_ATOMIC_OR 0x40
#define EBPF_ATOMIC_AND 0x50
#define EBPF_ATOMIC_XOR 0xa0
#define EBPF_ATOMIC_FETCH 0x01
#define EBPF_ATOMIC_XCHG 0xe1
#define EBPF_ATOMIC_CMPXCHG 0xf1

/* src field of a 64-bit immediate load (BPF_LD | BPF_IMM | BPF_DW). */
#define EBPF_PSEUDO_IMM64 0
#define EBPF_PSEUDO_MAP_FD 1
#define EBPF_PSEUDO_MAP_VALUE 2
#define EBPF_PSEUDO_BTF_ID 3
#define EBPF_PSEUDO_FUNC 4
#define EBPF_PSEUDO_MAP_IDX 5
#define EBPF_PSEUDO_MAP_IDX_VALUE 6

/* src field of a CALL instruction. */
#define EBPF_PSEUDO_CALL_HELPER 0
#define EBPF_PSEUDO_CALL_LOCAL 1
#define EBPF_PSEUDO_CALL_KFUNC 2

/* Whole opcodes used by name. */
#define EBPF_OP_LDDW 0x18
#define EBPF_OP_JA 0x05
#define EBPF_OP_JA32 0x06
#define EBPF_OP_CALL 0x85
#define EBPF_OP_CALLX 0x8d
#define EBPF_OP_EXIT 0x95

/* Limits of the VM (the kernel's, where the kernel has one). */
#define EBPF_STACK_SIZE 512
#define EBPF_MAX_CALL_FRAMES 8
#define EBPF_MAX_INSNS 1000000
#define EBPF_DEFAULT_BUDGET 1000000

#endif
