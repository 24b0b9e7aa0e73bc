#!/usr/bin/env bash
# Installs what gpool needs to build and test, from Debian 12's packages. Safe to re-run.
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config git
      libgtest-dev libgmock-dev libbenchmark-dev
      nlohmann-json3-dev libyaml-dev libcli11-dev libfmt-dev libspdlog-dev
      libsqlite3-dev libzstd-dev libssl-dev
      libxxhash-dev  # XXH3-128: a save's memo of unchanged chunks (src/ckpt/checkpoint_store.cc)
      libcpp-httplib-dev clang libclang-rt-14-dev  # clang: the libFuzzer targets (scripts/fuzz.sh)
      iproute2 procps  # ip netns: the integration tests; pkill/ps
      # The Python checkpoint SDK (python/gpool_ckpt, for /usr/bin/python3) and its test;
      # python3-dev: Python.h; torch: only the torch half of the round-trip test (~30 s to install).
      pybind11-dev python3-dev python3-numpy python3-torch)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
