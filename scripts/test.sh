#!/usr/bin/env bash
# Quick start, second command (`npm test`): installs what the tests need (host packages, npm
# packages), builds (the type check of src/), type-checks the tests, lints, then runs the unit and integration suites with
# CAKE_TEST_STRICT=1: a test that needs a missing host tool or fixture fails instead of skipping
# (test/helpers/tools.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_packages scripts/host-packages.txt scripts/test-packages.txt
ensure_node_modules
npm run build --silent
npx tsc -p tsconfig.test.json
npm run lint --silent
export CAKE_TEST_BUILT=1
export CAKE_TEST_STRICT=1
npx vitest run "$@"
