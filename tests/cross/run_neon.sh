#!/usr/bin/env bash
# Builds the kernel check for aarch64 and runs it under qemu-user: the NEON kernels are tested
# for real on an x86-64 machine.  Exit 77 (ctest: skipped) when the cross tools are missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-/tmp}/kernels_check_aarch64
cc=aarch64-linux-gnu-gcc
command -v "$cc" >/dev/null && command -v qemu-aarch64 >/dev/null || {
  echo "aarch64 cross compiler or qemu-aarch64 missing: skipped" >&2
  exit 77
}
"$cc" -std=c11 -O2 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$root/include" -I"$root/src" \
  "$root/tests/cross/kernels_check.c" "$root"/src/vec/*.c "$root"/src/util/util.c \
  -lm -o "$out"
qemu-aarch64 -L /usr/aarch64-linux-gnu "$out"
