#!/usr/bin/env bash
# Start the local schema registry (Apicurio Registry, Confluent-compatible API) in the
# background.
#
# Usage: registry-start.sh APP_DIR STATE_DIR PORT
#   APP_DIR    the server, as printed by provision.sh
#   STATE_DIR  the registry's own folder: registry.properties, data/, registry.log,
#              registry.pid
#   PORT       HTTP port on 127.0.0.1
# Environment: REGISTRY_JAVA_OPTS (default "-Xms32m -Xmx256m -XX:+UseSerialGC
#              -XX:TieredStopAtLevel=1": a small heap and the quick JIT tier, which start
#              faster and use less memory than the defaults for a registry this size).
#
# Starts the JVM detached from the caller's session, writes its pid to STATE_DIR/registry.pid
# and prints it. It does not wait for the registry to answer; the caller polls it.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)

die() {
    echo "registry-start.sh: error: $*" >&2
    exit 1
}

[[ $# -eq 3 ]] || die "usage: registry-start.sh APP_DIR STATE_DIR PORT"
app_arg=$1
state_arg=$2
port=$3

[[ $port =~ ^[0-9]+$ ]] && ((port > 0 && port < 65536)) || die "'$port' is not a TCP port"
command -v java >/dev/null \
    || die "java is not on PATH; install Java 17 or newer, e.g. apt-get install openjdk-17-jre-headless"
[[ -d $app_arg ]] || die "$app_arg does not exist; run provision.sh first"
app_dir=$(cd "$app_arg" && pwd -P)
runners=("$app_dir"/apicurio-registry-app-*-runner.jar)
[[ -f ${runners[0]} ]] || die "$app_dir holds no apicurio-registry-app-*-runner.jar; run provision.sh first"
runner=${runners[0]}
[[ -f $here/registry.properties.in ]] || die "registry.properties.in is missing from $here"

mkdir -p "$state_arg" || die "cannot create the state folder $state_arg"
# Physical absolute paths: the configuration's path ends up on the JVM's command line, which
# is how a running registry is recognised as this state folder's own.
state_dir=$(cd "$state_arg" && pwd -P)
# The configuration path is one entry of a comma-separated list and the data path part of a
# JDBC URL whose settings are separated by semicolons.
[[ $state_dir != *[,\;]* ]] || die "the state folder's path must not contain ',' or ';': $state_dir"
config="$state_dir/registry.properties"
data_dir="$state_dir/data"
log_file="$state_dir/registry.log"
pid_file="$state_dir/registry.pid"

is_our_registry() {
    local -a args
    { mapfile -d '' -t args <"/proc/$1/cmdline"; } 2>/dev/null || return 1
    # A zombie has an empty command line and so does not count: it is gone already. So does
    # a process in the middle of exec, for a moment.
    ((${#args[@]} > 0)) || return 1
    # The program must be java itself: while setsid is about to exec the JVM, its own command
    # line also holds the configuration option.
    [[ ${args[0]##*/} == java && " ${args[*]} " == *" -Dquarkus.config.locations=$config "* ]]
}

# Gone, or a zombie: until this script exits, a JVM that died at once is its unreaped child.
has_exited() {
    local stat
    { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 0
    [[ ${stat##*) } == Z* ]]
}

if [[ -f $pid_file ]]; then
    old_pid=$(<"$pid_file")
    if [[ $old_pid =~ ^[0-9]+$ ]] && is_our_registry "$old_pid"; then
        die "a registry of $state_dir is already running (pid $old_pid); stop it with registry-stop.sh"
    fi
    # Left over from a crash or a reboot: the pid is dead or belongs to someone else now.
    rm -f "$pid_file"
fi

# Rendered at every start, so the port follows the argument. Quoted replacements keep '&'
# and backslashes in paths literal.
template=$(<"$here/registry.properties.in")
rendered=${template//@PORT@/"$port"}
rendered=${rendered//@DATA_DIR@/"$data_dir"}
printf '%s\n' "$rendered" >"$config.tmp"
mv "$config.tmp" "$config"
mkdir -p "$data_dir"

# Keep the previous run's log for post-mortems; the current one starts empty so that its
# tail is about this run only.
[[ -f $log_file ]] && mv -f "$log_file" "$log_file.1"
: >"$log_file"

# The server reads ./config/application.properties and ./.env of its working folder; the
# state folder holds neither, so nothing of the caller's folder leaks into its configuration.
cd "$state_dir"
# shellcheck disable=SC2086  # REGISTRY_JAVA_OPTS holds several JVM options on purpose.
# setsid: the registry must outlive the command that started it and must not receive the
# terminal's Ctrl-C. Without job control this shell's children are not group leaders, so
# setsid execs in place and $! is the JVM's own pid.
setsid java ${REGISTRY_JAVA_OPTS:--Xms32m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1} \
    -Djava.awt.headless=true -Dquarkus.config.locations="$config" \
    -jar "$runner" >>"$log_file" 2>&1 </dev/null &
pid=$!
# $! exists as soon as the fork does, a moment before the exec of java; whoever reads the pid
# file identifies the registry by its command line, so wait until that is the JVM's.
deadline=$((SECONDS + 10))
until is_our_registry "$pid"; do
    if has_exited "$pid"; then
        tail -n 15 "$log_file" >&2 || true
        die "the registry exited at once (output above); full log: $log_file"
    fi
    if ((SECONDS >= deadline)); then
        kill -KILL "$pid" 2>/dev/null || true
        die "process $pid did not turn into the registry's JVM within 10 s; see $log_file"
    fi
    sleep 0.05
done
echo "$pid" >"$pid_file.tmp"
mv "$pid_file.tmp" "$pid_file"
echo "$pid"
