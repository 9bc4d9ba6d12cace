#!/usr/bin/env bash
# Rewrites test/golden/disasm/ from llvm-objdump-19 -d: one <object>.txt per test object in
# bpf/test/disasm/, and sweep.txt, the listing of every encoding in test/asm/sweep-encodings.mjs
# (assembled as raw bytes by llvm-mc-19). Tests only read these files; this script alone writes them.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in llvm-objdump-19 llvm-mc-19 node; do
  command -v "$tool" >/dev/null || { echo "update-golden-disasm: $tool is not installed" >&2; exit 1; }
done
out=test/golden/disasm
mkdir -p "$out"
# The banner line names the file as given on the command line; keep only what follows it.
strip() { sed -n '/^Disassembly of section/,$p'; }
n=0
for obj in bpf/test/disasm/*.o; do
  name=$(basename "$obj" .o)
  llvm-objdump-19 -d "$obj" | strip > "$out/$name.txt"
  n=$((n+1))
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
node test/asm/sweep-encodings.mjs > "$tmp/sweep.s"
llvm-mc-19 -triple bpfel -filetype=obj "$tmp/sweep.s" -o "$tmp/sweep.o"
llvm-objdump-19 -d "$tmp/sweep.o" | strip > "$out/sweep.txt"
echo "update-golden-disasm: wrote $((n+1)) golden files"
