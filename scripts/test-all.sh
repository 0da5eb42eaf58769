#!/usr/bin/env bash
# The project's tests (`npm test`): type-check, unit tests, then the acceptance suite in each runtime of
# RBEE_TEST_RUNTIMES (default: process; CI runs "process docker-remote": see below). Ends with one total line
# `N passed, N failed, N skipped` and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules/@cucumber/cucumber ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund || { echo "error: npm ci failed"; exit 2; }
fi

passed=0 failed=0 skipped=0
add() { passed=$((passed + $1)); failed=$((failed + $2)); skipped=$((skipped + ${3:-0})); }

echo "== typecheck"
if npx tsc --noEmit -p tsconfig.json; then add 1 0; else add 0 1; fi

echo "== format (prettier, 120 columns; fix with: npm run format)"
if npx prettier --check --log-level warn .; then add 1 0; else echo "error: files above are not formatted: run npm run format"; add 0 1; fi

echo "== unit tests"
mkdir -p reports
mapfile -t unit < <(find test -name '*.test.ts' | sort)
# Bounded: a test file whose process never exits (an open handle) must fail the run, not stall CI.
timeout -k 15 "${RBEE_UNIT_TIMEOUT_S:-900}" node --import tsx --test --test-concurrency=1 --test-timeout=180000 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination=reports/unit.tap "${unit[@]}"
unit_status=$?
p=$(grep -E '^# pass ' reports/unit.tap | awk '{print $3}'); f=$(grep -E '^# fail ' reports/unit.tap | awk '{print $3}')
s=$(grep -E '^# skipped ' reports/unit.tap | awk '{print $3}')
add "${p:-0}" "${f:-0}" "${s:-0}"
if [ "$unit_status" -ge 124 ]; then echo "error: the unit tests did not finish within ${RBEE_UNIT_TIMEOUT_S:-900} s (a test file whose process never exits?)"; fi
if [ "$unit_status" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then add 0 1; fi
echo "unit: ${p:-0} passed, ${f:-0} failed, ${s:-0} skipped"

# "docker-remote": the docker runtime against the local engine reached as a remote one (loopback TCP) with
# the host shortcuts off: no nsenter, no bind mounts, no host paths (scripts/engine-on-loopback-tcp.mjs).
forwarder=""
stop_forwarder() { [ -n "$forwarder" ] && kill "$forwarder" 2>/dev/null; forwarder=""; }
trap stop_forwarder EXIT
# Sets $endpoint (empty when it did not start) and $forwarder; not in a subshell, so the pid is ours to stop.
remote_engine() {
  local ready; ready=$(mktemp)
  node scripts/engine-on-loopback-tcp.mjs >"$ready" 2>&1 &
  forwarder=$!
  for _ in $(seq 1 50); do grep -q '^listening' "$ready" && break; sleep 0.1; done
  endpoint=$(sed -n 's/^listening //p' "$ready"); rm -f "$ready"
}

for runtime in ${RBEE_TEST_RUNTIMES:-process}; do
  echo "== acceptance suite, $runtime runtime"
  out=$(mktemp)
  engine_env=()
  if [ "$runtime" = docker-remote ]; then
    remote_engine
    if [ -z "$endpoint" ]; then echo "error: the loopback TCP endpoint for the engine did not start"; add 0 1; continue; fi
    echo "engine endpoint: $endpoint, host shortcuts off"
    engine_env=(DOCKER_HOST="$endpoint" RBEE_DOCKER_HOST_SHORTCUTS=0)
  fi
  # Bounded too; SIGTERM first, so the runner tears its stacks down before it goes.
  env "${engine_env[@]}" RBEE_REPORTS_DIR="reports/$runtime" timeout -k 60 "${RBEE_SUITE_TIMEOUT_S:-1500}" \
    ./run-integration-tests.sh --runtime "${runtime%-remote}" "$@" 2>&1 | tee "$out"
  status=${PIPESTATUS[0]}
  stop_forwarder
  if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then echo "error: the $runtime suite did not finish within ${RBEE_SUITE_TIMEOUT_S:-1500} s"; fi
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$out" | tail -n 1)
  rm -f "$out"
  if [ -z "$line" ]; then add 0 1; continue; fi
  read -r ap _ af _ as _ <<<"${line//,/}"
  add "$ap" "$af" "$as"
  if [ "$status" -ne 0 ] && [ "$af" -eq 0 ]; then add 0 1; fi
done

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
