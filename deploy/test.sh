#!/usr/bin/env bash
# The README's test command: installs dependencies, builds with warnings as
# errors, runs every test (unit and integration), then builds again with
# AddressSanitizer + UndefinedBehaviorSanitizer and runs the unit tests there.
# Usage: deploy/test.sh            (from anywhere; builds under ./build-ci)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
jobs=$(nproc 2>/dev/null || echo 2)

bash deploy/install-deps.sh

echo "== build (warnings are errors)"
cmake -S . -B build-ci -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEBB_WERROR=ON >/dev/null
cmake --build build-ci -j "$jobs"

echo "== build with AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B build-ci-asan -DCMAKE_BUILD_TYPE=Debug -DEBB_WERROR=ON -DEBB_SANITIZE=ON >/dev/null
cmake --build build-ci-asan -j "$jobs"

status=0
echo "== tests (unit and integration)"
(cd build-ci && ctest --output-on-failure --timeout 600 -j "$jobs") || status=1

echo "== unit tests under ASan/UBSan"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-ci-asan && ctest -L unit --output-on-failure --timeout 600 -j "$jobs") || status=1

if [ "$status" -ne 0 ]; then
  echo "== FAILED: see the output above"
fi
exit "$status"
