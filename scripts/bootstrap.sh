#!/usr/bin/env bash
# Installs the Debian packages nabla builds against. Idempotent, and silent when nothing is missing.
#   --bench     also the benchmark comparison libraries (OpenBLAS, libtorch)
#   --fixtures  also PyTorch for Python, which regenerates the test fixtures
#   --data      also what scripts/get-data.sh needs: Fashion-MNIST, and node with npm
set -euo pipefail

# clang and libclang-rt-dev (libFuzzer) build the fuzz targets that scripts/test.sh runs.
packages=(build-essential cmake ccache libeigen3-dev catch2 libbenchmark-dev libomp-dev
          zlib1g-dev libpng-dev libjpeg-dev libhdf5-dev libzip-dev nlohmann-json3-dev libcli11-dev
          clang libclang-rt-dev)
for arg in "$@"; do
  case "$arg" in
    --bench) packages+=(libopenblas-dev libtorch-dev) ;;
    --fixtures) packages+=(python3-torch) ;;
    --data)
      packages+=(dataset-fashion-mnist openssl)
      # Any node with npm will do (NodeSource's nodejs bundles npm; Debian splits it out).
      if ! command -v npm >/dev/null; then packages+=(nodejs npm); fi
      ;;
    *)
      echo "bootstrap.sh: unknown option '$arg' (expected --bench, --fixtures or --data)" >&2
      exit 2
      ;;
  esac
done

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}\n' "$package" 2>/dev/null || true)
  if [[ "$status" != *" ok installed"* ]]; then
    missing+=("$package")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

as_root=()
if [[ $EUID -ne 0 ]]; then
  if ! command -v sudo >/dev/null; then
    echo "bootstrap.sh: missing packages (${missing[*]}); run as root or install sudo" >&2
    exit 1
  fi
  as_root=(sudo)
fi

echo "bootstrap.sh: installing ${missing[*]}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
apt_get=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y)
if ! { "${apt_get[@]}" update && "${apt_get[@]}" install --no-install-recommends "${missing[@]}"; } \
  >"$log" 2>&1; then
  cat "$log" >&2
  echo "bootstrap.sh: apt-get failed (output above)" >&2
  exit 1
fi
