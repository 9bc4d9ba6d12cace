#!/usr/bin/env bash
# Builds every bpf/**/*.bpf.c into an ELF object next to it, with one pinned toolchain, so the
# committed objects are reproducible: CI runs this and fails if any object changes.
#
# A source may ask for more builds with a line `// build-variants: clang-19:v3 clang-14:v2 ...`.
# The first variant is written to NAME.bpf.o, each further one to NAME.<clang>-<cpu>.bpf.o.
# Without that line a source is built once, as clang-19:v3. Arguments, if any, name the sources
# to build (paths from the repository root); without them every source is built.
set -euo pipefail
cd "$(dirname "$0")/.."

CFLAGS=(-O2 -g -target bpf -Wall -Werror -Wno-unused-function
        -fdebug-compilation-dir=. -fno-ident -I bpf -I bpf/include
        -I /usr/include/"$(uname -m)"-linux-gnu)

built=0
while IFS= read -r src; do
  variants=$(sed -n 's|^// build-variants: *||p' "$src" | head -n1)
  [ -n "$variants" ] || variants="clang-19:v3"
  first=1
  for v in $variants; do
    cc=${v%%:*}; cpu=${v##*:}
    if ! command -v "$cc" >/dev/null; then
      echo "bpf/build.sh: $cc is not installed (needed for $src)" >&2; exit 1
    fi
    if [ $first = 1 ]; then out=${src%.c}.o; else out=${src%.bpf.c}.$cc-$cpu.bpf.o; fi
    "$cc" "${CFLAGS[@]}" -mcpu="$cpu" -c "$src" -o "$out"
    first=0; built=$((built+1))
  done
done < <(if [ $# -gt 0 ]; then printf '%s\n' "$@"; else find bpf -name '*.bpf.c' | LC_ALL=C sort; fi)
echo "bpf/build.sh: built $built objects"
