#!/usr/bin/env bash
# Builds and runs the tests twice: an optimised release build, then a debug build under
# AddressSanitizer and UndefinedBehaviorSanitizer. Stops at the first failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/bootstrap.sh

export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
export CCACHE_DIR="${CCACHE_DIR:-$PWD/.cache/ccache}"

cmake --workflow --preset release
cmake --workflow --preset debug
