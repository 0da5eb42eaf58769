#!/usr/bin/env bash
# Make sure a Docker engine answers, for the docker runtime of the harness.
#
#   scripts/ensure-docker.sh          install (apt) if dockerd is missing, start it if `docker info` fails,
#                                     wait for it (bounded); exit 0 when the engine answers.
#   scripts/ensure-docker.sh --stop   stop the daemon only if this script started it (CI teardown).
#
# Idempotent: an engine that already answers (a system service, Docker Desktop, a remote DOCKER_HOST) is
# used as it is and never stopped by --stop. On failure it prints ONE line with the cause and exits 1.
#
# Env: RBEE_DOCKERD_LOG (default /tmp/rbee-dockerd.log), RBEE_DOCKERD_PIDFILE (default
# /tmp/rbee-dockerd.pid), RBEE_DOCKER_WAIT_S (default 60), RBEE_DOCKERD_ARGS (extra daemon flags, e.g.
# "--default-address-pool base=10.213.0.0/16,size=24" for more than ~30 stacks at once: every stack
# takes one network, and the default pools hold about 30).
set -uo pipefail

LOG="${RBEE_DOCKERD_LOG:-/tmp/rbee-dockerd.log}"
PIDFILE="${RBEE_DOCKERD_PIDFILE:-/tmp/rbee-dockerd.pid}"
WAIT_S="${RBEE_DOCKER_WAIT_S:-60}"

fail() {
  echo "ensure-docker: $*" >&2
  exit 1
}

# The daemon's own last words are the most useful cause; squash them into one line.
log_tail() {
  [ -f "$LOG" ] || { echo "(no dockerd log at $LOG)"; return; }
  tail -n 3 "$LOG" | tr '\n' ' ' | cut -c1-400
}

engine_answers() { docker info >/dev/null 2>&1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else return 1; fi
}

our_pid() {
  # A pid file is only trusted while that pid still is a dockerd (pids get reused).
  [ -f "$PIDFILE" ] || return 1
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null)"
  [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = dockerd ] && echo "$pid"
}

stop_ours() {
  local pid
  if ! pid="$(our_pid)"; then
    rm -f "$PIDFILE"
    echo "ensure-docker: no daemon started by this script is running; nothing to stop"
    return 0
  fi
  as_root kill -TERM "$pid" || fail "could not signal dockerd pid $pid"
  for _ in $(seq 1 30); do
    [ -d "/proc/$pid" ] || { rm -f "$PIDFILE"; echo "ensure-docker: stopped dockerd pid $pid"; return 0; }
    sleep 1
  done
  fail "dockerd pid $pid did not exit within 30 s of SIGTERM"
}

if [ "${1:-}" = "--stop" ]; then
  stop_ours
  exit $?
fi
[ $# -eq 0 ] || fail "unknown argument: $1 (use no argument or --stop)"

if command -v docker >/dev/null && engine_answers; then
  echo "ensure-docker: engine answers ($(docker info --format '{{.ServerVersion}} {{.CgroupVersion}}' 2>/dev/null))"
  exit 0
fi

# A remote engine that does not answer is not ours to start.
if [ -n "${DOCKER_HOST:-}" ] && [[ "$DOCKER_HOST" != unix://* ]]; then
  fail "DOCKER_HOST=$DOCKER_HOST does not answer: $(docker info 2>&1 | tail -n 1)"
fi

if ! command -v dockerd >/dev/null || ! command -v iptables >/dev/null; then
  command -v apt-get >/dev/null || fail "dockerd is missing and apt-get is not available to install it"
  echo "ensure-docker: installing docker.io iptables with apt-get"
  # A fresh machine's package lists may be empty or old: update them first.
  { as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io iptables; } >/tmp/rbee-docker-apt.log 2>&1 ||
    fail "apt-get install docker.io iptables failed: $(tail -n 2 /tmp/rbee-docker-apt.log | tr '\n' ' ')"
fi
command -v docker >/dev/null || fail "the docker client is not installed (docker.io provides it)"

if ! our_pid >/dev/null; then
  echo "ensure-docker: starting dockerd (log: $LOG)"
  # setsid: the daemon must outlive this script and not get the terminal's Ctrl-C.
  # shellcheck disable=SC2086 # RBEE_DOCKERD_ARGS is a list of flags
  as_root setsid dockerd ${RBEE_DOCKERD_ARGS:-} >"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  # With sudo, $! is sudo's pid; find the real daemon so --stop signals the right process.
  sleep 0.5
  if [ "$(cat "/proc/$(cat "$PIDFILE")/comm" 2>/dev/null)" != dockerd ]; then
    real="$(pgrep -n -x dockerd || true)"
    [ -n "$real" ] && echo "$real" >"$PIDFILE"
  fi
fi

for _ in $(seq 1 "$WAIT_S"); do
  if engine_answers; then
    echo "ensure-docker: engine answers ($(docker info --format '{{.ServerVersion}} {{.CgroupVersion}}' 2>/dev/null))"
    exit 0
  fi
  pid="$(our_pid)" || fail "dockerd exited: $(log_tail)"
  sleep 1
done
fail "dockerd did not answer within ${WAIT_S} s: $(log_tail)"
