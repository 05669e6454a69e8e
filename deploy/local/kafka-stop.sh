#!/usr/bin/env bash
# Stop the local Kafka broker of a state folder and leave no broker process of it behind.
#
# Usage: kafka-stop.sh STATE_DIR [TIMEOUT_SECONDS]
#   TIMEOUT_SECONDS  how long a clean shutdown may take after SIGTERM (default 30); whatever
#                    is still alive then gets SIGKILL.
#
# Prints "stopped" if it ended a broker, "not running" otherwise. The pid file is a hint, not
# proof: a process counts as the broker only if its command line is kafka.Kafka with this
# folder's server.properties, and /proc is searched too, so a lost or stale pid file neither
# leaves a broker running nor gets an unrelated process killed.
set -euo pipefail

here=${BASH_SOURCE[0]%/*}
[[ $here == "${BASH_SOURCE[0]}" ]] && here=.
# shellcheck source=lib.sh
source "$here/lib.sh"

stop_args "$@"
jvm_marker="kafka.Kafka $state_dir/server.properties"
stop_jvms "$state_dir/kafka.pid" "$timeout" broker
