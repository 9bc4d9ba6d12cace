#!/usr/bin/env bash
# Builds wasm/twinpath-vm.wasm from the C sources here with one pinned toolchain (clang-19 and
# wasm-ld-19), freestanding: no libc, no WASI. CI rebuilds it and fails if the result differs
# from the committed file.
set -euo pipefail
cd "$(dirname "$0")"
CC=${CC:-clang-19}
for tool in "$CC" wasm-ld-19; do
  command -v "$tool" >/dev/null || { echo "wasm/build.sh: $tool is not installed" >&2; exit 1; }
done
SRCS=(vm.c validate.c interp.c helpers.c helpers_pkt.c context.c alloc.c maps.c map_array.c map_hash.c map_lru.c map_lpm.c map_queue.c map_ringbuf.c map_dev.c)
"$CC" --target=wasm32 -nostdlib -O3 -mbulk-memory -std=c11 -Wall -Wextra -Werror \
  -Wno-unused-parameter -fno-builtin-memset -ffreestanding -fvisibility=hidden \
  -I /usr/include -I "/usr/include/$(uname -m)-linux-gnu" \
  -fuse-ld="$(command -v wasm-ld-19)" \
  -Wl,--no-entry -Wl,--export-memory -Wl,--stack-first -Wl,-z,stack-size=262144 \
  -Wl,--initial-memory=1048576 -Wl,--strip-all \
  -o twinpath-vm.wasm "${SRCS[@]}"
echo "wasm/build.sh: built wasm/twinpath-vm.wasm ($(wc -c < twinpath-vm.wasm) bytes)"
