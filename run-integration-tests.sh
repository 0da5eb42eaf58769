#!/usr/bin/env bash
# Runs the acceptance suite: preflight (inputs, tools, engine), sweep of leftovers, cucumber, reports,
# and a closing line `N passed, N failed, N skipped`. Exits non-zero on any failed, undefined or
# ambiguous step, and on bad input (with one line saying what to do).
set -uo pipefail
cd "$(dirname "$0")"

usage() {
  cat <<'TXT'
Usage: ./run-integration-tests.sh [options] [feature paths…]
  --tags EXPR        cucumber tag expression, e.g. '@FULL-001' or '@integration and not @nightly'
  --profile NAME     cucumber profile from cucumber.mjs: default, smoke, chaos, nightly, conformance, lint
  --name REGEX       only scenarios whose name matches
  --runtime R        process | docker | auto (default: $RBEE_RUNTIME or auto)
  --parallel N       run N scenarios at once, each with its own stack (default: 2 per CPU core; 1 = serially)
  --retry N          retry a failed scenario up to N times (it is then reported flaky)
  --shrink           when a chaos scenario fails, rerun it with smaller fault schedules and report the smallest
                     that still fails, with its replay command (on by default in the nightly profile)
  --build            rebuild the docker images even if their inputs did not change
  --keep             leave each scenario's stack running and its files in place
  --down             remove everything the harness ever started (processes, containers, networks, dirs) and exit
  -h, --help         this text
TXT
}

tags="" profile="default" name="" runtime="${RBEE_RUNTIME:-auto}" parallel="" retry="" down=0 build=0
paths=()
while [ $# -gt 0 ]; do
  case "$1" in
    --tags) [ $# -ge 2 ] || { echo "error: --tags needs an expression" >&2; exit 2; }; tags="$2"; shift 2 ;;
    --profile) [ $# -ge 2 ] || { echo "error: --profile needs a name" >&2; exit 2; }; profile="$2"; shift 2 ;;
    --name) [ $# -ge 2 ] || { echo "error: --name needs a pattern" >&2; exit 2; }; name="$2"; shift 2 ;;
    --runtime) [ $# -ge 2 ] || { echo "error: --runtime needs process, docker or auto" >&2; exit 2; }; runtime="$2"; shift 2 ;;
    --parallel) [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || { echo "error: --parallel needs a positive number" >&2; exit 2; }; parallel="$2"; shift 2 ;;
    --retry) [[ "${2:-}" =~ ^[0-9]+$ ]] || { echo "error: --retry needs a number" >&2; exit 2; }; retry="$2"; shift 2 ;;
    --build) build=1; shift ;;
    --shrink) export RBEE_SHRINK=1; shift ;;
    --keep) export RBEE_KEEP=1; shift ;;
    --down) down=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; paths+=("$@"); break ;;
    -*) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) paths+=("$1"); shift ;;
  esac
done

case "$profile" in
  default|smoke|chaos|nightly|conformance|lint) ;;
  *) echo "error: unknown profile \"$profile\": use default, smoke, chaos, nightly, conformance or lint" >&2; exit 2 ;;
esac

# Dependencies: install when missing or older than the lockfile.
if [ ! -d node_modules/@cucumber/cucumber ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "installing npm dependencies…" >&2
  npm ci --no-audit --no-fund >&2 || { echo "error: npm ci failed (see above)" >&2; exit 2; }
fi

# The run script is a convenience over `npx cucumber-js`: the harness plugin (support/harness-plugin.mjs)
# does the preflight, the sweep, the builds, the reports and the verdict line for both. Here: friendlier
# option errors, --down, the runtime and the default parallelism, and Ctrl-C forwarded.
tsnode=(node --import tsx)
preflight_args=(--runtime "$runtime")
[ -n "$tags" ] && preflight_args+=(--tags "$tags")
[ "$down" = 1 ] && preflight_args+=(--down)
resolved=$("${tsnode[@]}" scripts/preflight.ts "${preflight_args[@]}" "${paths[@]}") || exit 2
[ "$down" = 1 ] && { echo "$resolved"; exit 0; }
runtime=$(printf '%s\n' "$resolved" | tail -n 1)
export RBEE_RUNTIME="$runtime"

# What the selection holds, asked of cucumber before anything is built: none is an error, at once.
[ ${#paths[@]} -gt 0 ] && export RBEE_FEATURE_PATHS_GIVEN=1
count_args=(--profile "$profile")
[ -n "$tags" ] && count_args+=(--tags "$tags")
[ -n "$name" ] && count_args+=(--name "$name")
selected=$("${tsnode[@]}" scripts/count-scenarios.ts "${count_args[@]}" "${paths[@]}") || exit 2
[ "$build" = 1 ] && export RBEE_BUILD_IMAGES=1
export RBEE_RUN_ID="${RBEE_RUN_ID:-r$(date +%s)-$$}"

args=(--profile "$profile")
[ -n "$tags" ] && args+=(--tags "$tags")
[ -n "$name" ] && args+=(--name "$name")
# Parallel by default: every scenario has its own stack, and a stack spends most of its time waiting, so
# two scenarios per core keep the cores busy without starving the stacks' own timing bounds. A docker stack
# also loads the engine (container starts, iptables, the link proxies' containers): one per core there —
# at two per core on two cores, loading timeouts and OOM detection bounds were missed.
if [ -z "$parallel" ]; then
  per_core=2; [ "$runtime" = docker ] && per_core=1
  parallel=$(node -e "console.log(Math.max(1, require('os').availableParallelism() * $per_core))")
fi
# No more workers than scenarios: each worker pays for loading the harness.
[ "$parallel" -gt "$selected" ] && parallel=$selected
[ "$profile" != lint ] && [ "$parallel" -gt 1 ] && args+=(--parallel "$parallel")
[ -n "$retry" ] && args+=(--retry "$retry")
# Forward Ctrl-C / SIGTERM to cucumber so its hooks tear the stacks down.
node node_modules/@cucumber/cucumber/bin/cucumber.js "${args[@]}" "${paths[@]}" &
cuke=$!
trap 'kill -TERM $cuke 2>/dev/null' INT TERM
wait $cuke; status=$?
while kill -0 $cuke 2>/dev/null; do wait $cuke; status=$?; done
trap - INT TERM

# The lint profile also holds the step catalogue to account: no unused and no near-duplicate steps.
if [ "$profile" = lint ] && [ "$status" -eq 0 ]; then "${tsnode[@]}" scripts/step-catalogue.ts --check || exit 1; fi
exit $status
