#!/usr/bin/env bash
# The README's first command: installs what is missing, fetches the bundled data, builds the
# examples (Release) and trains the demo GAN, then prints where its pictures are.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/bootstrap.sh
scripts/get-data.sh
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
cmake --preset release >/dev/null
cmake --build --preset release --target gan_mlp

# Row 6 of GAN_VARIANTS.md (a fully connected GAN on MNIST); 60 epochs take about a minute here.
build/release/examples/gan_mlp --epochs "${NABLA_DEMO_EPOCHS:-60}" --out out/demo --threads "$(nproc)"
echo "nabla demo: samples out/demo/fake_images-*.png, losses out/demo/loss.png"
