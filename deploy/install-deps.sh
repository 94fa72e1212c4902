#!/usr/bin/env bash
# Installs what the broker needs to build, test and run on Debian 12, from Debian's packages.
# Idempotent: does nothing (and needs no network) when everything is already installed.
set -euo pipefail

packages=(
  g++ clang libclang-rt-14-dev cmake make pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libssl-dev openssl libsqlite3-dev sqlite3 libgoogle-perftools-dev
  libgtest-dev libgmock-dev libbenchmark-dev libyaml-cpp-dev
  nats-server libnats-dev strace linux-perf
  python3 python3-grpcio python3-protobuf python3-cryptography
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "install-deps: need root to install packages; run as root or install sudo" >&2
    exit 1
  fi
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
