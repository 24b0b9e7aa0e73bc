#!/usr/bin/env bash
# Copies the shared libraries build/gpool needs beyond glibc and libstdc++ into build/gpu-libs,
# so the binary can be carried to a lent GPU machine that lacks Debian's -dev packages
# (scripts/gpu-check.sh puts the folder on LD_LIBRARY_PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build/gpu-libs
ldd build/gpool | awk '/=> \// {print $3}' |
  grep -E 'httplib|sqlite|yaml|brotli|libssl|libcrypto|libz\.' |
  while read -r lib; do cp -L "$lib" build/gpu-libs/; done
ls build/gpu-libs
