#!/usr/bin/env bash
# Installs the Debian packages the project needs, only those that are missing.
# Idempotent and quiet when everything is present.  Usage: scripts/deps.sh [group...]
# Groups: build (default), test, bench, cross.
set -euo pipefail

build_pkgs=(build-essential cmake ninja-build pkg-config libcmocka-dev libjemalloc-dev libcjson-dev
            libgrpc-dev protobuf-c-compiler libprotobuf-c-dev libmicrohttpd-dev libssl-dev
            libicu-dev libroaring-dev libncurses-dev libcurl4-openssl-dev)
test_pkgs=(clang libclang-rt-14-dev python3-grpcio python3-protobuf python3-pytest protobuf-compiler
           protobuf-compiler-grpc curl python3-numpy python3-tqdm python3-pip tmux systemd
           etcd-server etcd-client)
bench_pkgs=(g++ libhnswlib-dev python3-numpy python3-faiss dataset-fashion-mnist wordnet-base fasttext)
cross_pkgs=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)

groups=("$@")
[ ${#groups[@]} -eq 0 ] && groups=(build test cross)

want=()
for g in "${groups[@]}"; do
  case "$g" in
    build) want+=("${build_pkgs[@]}") ;;
    test) want+=("${test_pkgs[@]}") ;;
    bench) want+=("${bench_pkgs[@]}") ;;
    cross) want+=("${cross_pkgs[@]}") ;;
    *) echo "deps.sh: unknown group '$g'" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$p")
done
# node and npm (the TypeScript SDK's tests): any node >= 18 on PATH will do (a machine may carry
# NodeSource's nodejs, which bundles npm and conflicts with Debian's npm package); else Debian's.
if [[ " ${groups[*]} " == *" test "* ]] && ! { command -v node && command -v npm; } >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps.sh: installing ${missing[*]}" >&2
sudo=()
[ "$(id -u)" -ne 0 ] && sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
