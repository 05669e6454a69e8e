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
# shellcheck source=lib.sh
source "$here/lib.sh"

[[ $# -eq 3 ]] || die "usage: registry-start.sh APP_DIR STATE_DIR PORT"
app_arg=$1
state_arg=$2
port=$3

check_port "$port"
require_java
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
jvm_marker="-Dquarkus.config.locations=$config"

refuse_if_running "$pid_file" "a registry of $state_dir" registry-stop.sh
# Rendered at every start, so the port follows the argument.
render_template "$here/registry.properties.in" "$config" PORT="$port" DATA_DIR="$data_dir"
mkdir -p "$data_dir"
fresh_log "$log_file"

# The server reads ./config/application.properties and ./.env of its working folder; the
# state folder holds neither, so nothing of the caller's folder leaks into its configuration.
cd "$state_dir"
# shellcheck disable=SC2086  # REGISTRY_JAVA_OPTS holds several JVM options on purpose.
start_detached "$log_file" "$pid_file" "the registry" "the registry's JVM" \
    java ${REGISTRY_JAVA_OPTS:--Xms32m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1} \
    -Djava.awt.headless=true -Dquarkus.config.locations="$config" -jar "$runner"
