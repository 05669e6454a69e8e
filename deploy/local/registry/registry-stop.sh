#!/usr/bin/env bash
# Stop the local schema registry of a state folder and leave no registry process of it
# behind.
#
# Usage: registry-stop.sh STATE_DIR [TIMEOUT_SECONDS]
#   TIMEOUT_SECONDS  how long a clean shutdown may take after SIGTERM (default 30); whatever
#                    is still alive then gets SIGKILL.
#
# Prints "stopped" if it ended a registry, "not running" otherwise. The pid file is a hint,
# not proof: a process counts as the registry only if it is a java process started with this
# folder's registry.properties, and /proc is searched too, so a lost or stale pid file neither
# leaves a registry running nor gets an unrelated process killed.
set -euo pipefail

die() {
    echo "registry-stop.sh: error: $*" >&2
    exit 1
}

[[ $# -ge 1 && $# -le 2 && -n $1 ]] || die "usage: registry-stop.sh STATE_DIR [TIMEOUT_SECONDS]"
timeout=${2:-30}
[[ $timeout =~ ^[0-9]+$ ]] || die "TIMEOUT_SECONDS must be a whole number of seconds, not '$timeout'"

if [[ ! -d $1 ]]; then
    echo "not running"
    exit 0
fi
state_dir=$(cd "$1" && pwd -P)
config="$state_dir/registry.properties"
pid_file="$state_dir/registry.pid"

is_our_registry() {
    local -a args
    # Builtins only: this runs for every process in /proc.
    { mapfile -d '' -t args <"/proc/$1/cmdline"; } 2>/dev/null || return 1
    # A zombie has an empty command line and so does not count: it is gone already. So does
    # a process in the middle of exec, for a moment.
    ((${#args[@]} > 0)) || return 1
    [[ ${args[0]##*/} == java && " ${args[*]} " == *" -Dquarkus.config.locations=$config "* ]]
}

our_registries() {
    local pid path
    if [[ -f $pid_file ]]; then
        pid=$(<"$pid_file")
        [[ $pid =~ ^[0-9]+$ ]] && is_our_registry "$pid" && echo "$pid"
    fi
    for path in /proc/[0-9]*; do
        pid=${path#/proc/}
        is_our_registry "$pid" && echo "$pid"
    done
    return 0
}

alive() {
    local pid
    for pid in "$@"; do
        is_our_registry "$pid" && echo "$pid"
    done
    return 0
}

mapfile -t pids < <(our_registries | sort -un)
if ((${#pids[@]} == 0)); then
    rm -f "$pid_file"
    echo "not running"
    exit 0
fi

# SIGTERM runs the server's shutdown: requests in flight finish and the H2 database is
# closed cleanly.
kill -TERM "${pids[@]}" 2>/dev/null || true
deadline=$((SECONDS + timeout))
while :; do
    mapfile -t pids < <(alive "${pids[@]}")
    ((${#pids[@]} == 0)) && break
    if ((SECONDS >= deadline)); then
        echo "registry-stop.sh: registry ${pids[*]} did not stop within ${timeout}s; killing it" >&2
        kill -KILL "${pids[@]}" 2>/dev/null || true
        for _ in $(seq 50); do
            mapfile -t pids < <(alive "${pids[@]}")
            ((${#pids[@]} == 0)) && break
            sleep 0.1
        done
        ((${#pids[@]} == 0)) || die "registry ${pids[*]} survived SIGKILL"
        break
    fi
    sleep 0.1
done
rm -f "$pid_file"
echo "stopped"
