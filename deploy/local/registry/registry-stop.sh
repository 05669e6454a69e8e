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

here=${BASH_SOURCE[0]%/*}
[[ $here == "${BASH_SOURCE[0]}" ]] && here=.
# shellcheck source=lib.sh
source "$here/lib.sh"

stop_args "$@"
jvm_marker="-Dquarkus.config.locations=$state_dir/registry.properties"
stop_jvms "$state_dir/registry.pid" "$timeout" registry
