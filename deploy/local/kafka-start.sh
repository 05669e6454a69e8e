#!/usr/bin/env bash
# Start the local single-node Kafka broker (KRaft, broker and controller in one JVM) in the
# background.
#
# Usage: kafka-start.sh LIBS_DIR STATE_DIR PORT CONTROLLER_PORT
#   LIBS_DIR         the jars, as printed by provision.sh
#   STATE_DIR        the broker's own folder: server.properties, data/, kafka.log, kafka.pid
#   PORT             client (PLAINTEXT) port on 127.0.0.1
#   CONTROLLER_PORT  KRaft controller port on 127.0.0.1
# Environment: KAFKA_HEAP_OPTS (default "-Xms256m -Xmx512m").
#
# Formats the storage on first use only, starts the JVM detached from the caller's session,
# writes its pid to STATE_DIR/kafka.pid and prints it. It does not wait for the broker to
# answer; the caller polls it.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)

die() {
    echo "kafka-start.sh: error: $*" >&2
    exit 1
}

[[ $# -eq 4 ]] || die "usage: kafka-start.sh LIBS_DIR STATE_DIR PORT CONTROLLER_PORT"
libs_dir=$1
state_arg=$2
port=$3
controller_port=$4

for p in "$port" "$controller_port"; do
    [[ $p =~ ^[0-9]+$ ]] && ((p > 0 && p < 65536)) || die "'$p' is not a TCP port"
done
[[ $port != "$controller_port" ]] || die "PORT and CONTROLLER_PORT must differ"
command -v java >/dev/null \
    || die "java is not on PATH; install Java 17 or newer, e.g. apt-get install openjdk-17-jre-headless"
compgen -G "$libs_dir/kafka_2.13-*.jar" >/dev/null \
    || die "$libs_dir holds no Kafka jars; run provision.sh first"
[[ -f $here/server.properties.in && -f $here/log4j2.yaml ]] \
    || die "server.properties.in or log4j2.yaml is missing from $here"

mkdir -p "$state_arg" || die "cannot create the state folder $state_arg"
# Physical absolute paths: they end up on the JVM's command line, which is how a running
# broker is recognised as this state folder's own.
state_dir=$(cd "$state_arg" && pwd -P)
libs_dir=$(cd "$libs_dir" && pwd -P)
config="$state_dir/server.properties"
data_dir="$state_dir/data"
log_file="$state_dir/kafka.log"
pid_file="$state_dir/kafka.pid"
log4j="$here/log4j2.yaml"

is_our_broker() {
    local -a args
    { mapfile -d '' -t args <"/proc/$1/cmdline"; } 2>/dev/null || return 1
    # A zombie has an empty command line and so does not count: it is gone already. So does
    # a process in the middle of exec, for a moment.
    ((${#args[@]} > 0)) || return 1
    # The program must be java itself: while setsid is about to exec the JVM, its own command
    # line also ends in "kafka.Kafka <config>".
    [[ ${args[0]##*/} == java && " ${args[*]} " == *" kafka.Kafka $config "* ]]
}

# Gone, or a zombie: until this script exits, a JVM that died at once is its unreaped child.
has_exited() {
    local stat
    { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 0
    [[ ${stat##*) } == Z* ]]
}

if [[ -f $pid_file ]]; then
    old_pid=$(<"$pid_file")
    if [[ $old_pid =~ ^[0-9]+$ ]] && is_our_broker "$old_pid"; then
        die "a broker of $state_dir is already running (pid $old_pid); stop it with kafka-stop.sh"
    fi
    # Left over from a crash or a reboot: the pid is dead or belongs to someone else now.
    rm -f "$pid_file"
fi

# Rendered at every start, so the ports follow the arguments. Quoted replacements keep '&'
# and backslashes in paths literal.
template=$(<"$here/server.properties.in")
rendered=${template//@PORT@/"$port"}
rendered=${rendered//@CONTROLLER_PORT@/"$controller_port"}
rendered=${rendered//@DATA_DIR@/"$data_dir"}
printf '%s\n' "$rendered" >"$config.tmp"
mv "$config.tmp" "$config"

# Keep the previous run's log for post-mortems; the current one starts empty so that its
# tail is about this run only.
[[ -f $log_file ]] && mv -f "$log_file" "$log_file.1"
: >"$log_file"

classpath="$libs_dir/*"
if [[ ! -f $data_dir/meta.properties ]]; then
    # The cluster id is kept so that a re-format after a half-finished first attempt reuses it.
    # It is what Kafka's `StorageTool random-uuid` makes (16 random bytes, URL-safe base64, no
    # padding, not starting with '-'), made here to save a JVM start.
    if [[ ! -s $state_dir/cluster.id ]]; then
        cluster_id=-
        while [[ $cluster_id == -* ]]; do
            cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
        done
        echo "$cluster_id" >"$state_dir/cluster.id.tmp"
        mv "$state_dir/cluster.id.tmp" "$state_dir/cluster.id"
    fi
    cluster_id=$(<"$state_dir/cluster.id")
    # Its own log: the broker's log then tells about the broker only.
    format_log="$state_dir/format.log"
    if ! java -cp "$classpath" -Dlog4j2.configurationFile="$log4j" \
        kafka.tools.StorageTool format -t "$cluster_id" -c "$config" >"$format_log" 2>&1; then
        grep -v -E '^[[:space:]]+(at |\.\.\. [0-9]+ more)' "$format_log" | tail -n 15 >&2 || true
        die "formatting the storage in $data_dir failed (output above); full log: $format_log"
    fi
fi

# shellcheck disable=SC2086  # KAFKA_HEAP_OPTS holds several JVM options on purpose.
# setsid: the broker must outlive the command that started it and must not receive the
# terminal's Ctrl-C. Without job control this shell's children are not group leaders, so
# setsid execs in place and $! is the JVM's own pid.
setsid java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} -Djava.awt.headless=true \
    -cp "$classpath" -Dlog4j2.configurationFile="$log4j" \
    kafka.Kafka "$config" >>"$log_file" 2>&1 </dev/null &
pid=$!
# $! exists as soon as the fork does, a moment before the exec of java; whoever reads the pid
# file identifies the broker by its command line, so wait until that is the JVM's.
deadline=$((SECONDS + 10))
until is_our_broker "$pid"; do
    if has_exited "$pid"; then
        tail -n 15 "$log_file" >&2 || true
        die "the broker exited at once (output above); full log: $log_file"
    fi
    if ((SECONDS >= deadline)); then
        kill -KILL "$pid" 2>/dev/null || true
        die "process $pid did not turn into the Kafka JVM within 10 s; see $log_file"
    fi
    sleep 0.05
done
echo "$pid" >"$pid_file.tmp"
mv "$pid_file.tmp" "$pid_file"
echo "$pid"
