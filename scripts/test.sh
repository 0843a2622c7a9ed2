#!/usr/bin/env bash
# Quick start, second command (`npm test`): installs what the tests need (host packages, npm
# packages), builds, checks types and generated docs, then runs the unit and integration suites.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_packages scripts/host-packages.txt scripts/test-packages.txt
ensure_node_modules
npm run build --silent
export CAKE_TEST_BUILT=1
npx vitest run "$@"
