#!/usr/bin/env bash
# Start a local Kafka node (KRaft, broker and controller in one JVM) in the background: the
# single-node broker, or one node of a local cluster.
#
# Usage: kafka-start.sh LIBS_DIR STATE_DIR PORT CONTROLLER_PORT [NODE_ID VOTERS CLUSTER_ID_FILE]
#   LIBS_DIR         the jars, as printed by provision.sh
#   STATE_DIR        the node's own folder: server.properties, data/, kafka.log, kafka.pid
#   PORT             client (PLAINTEXT) port on 127.0.0.1
#   CONTROLLER_PORT  KRaft controller port on 127.0.0.1
# A node of a cluster also gets:
#   NODE_ID          its node id, one of those in VOTERS
#   VOTERS           every node's controller, ID@127.0.0.1:PORT,... (controller.quorum.voters)
#   CLUSTER_ID_FILE  where the cluster id is kept, the same file for every node of the cluster
# Without them the node is a cluster of its own: node 1, the only voter, its cluster id in
# STATE_DIR/cluster.id. Replication follows the number of voters: one node holds one replica;
# three or more hold three, min.insync.replicas 2, so that a node may die without losing an
# acknowledged write or stopping acks=all producers.
# Environment: KAFKA_HEAP_OPTS (default "-Xms256m -Xmx512m").
#
# Security: if STATE_DIR/security holds SASL_SSL, the client port speaks SASL/SCRAM over TLS
# only, with a CA, a keystore and SCRAM users generated into STATE_DIR once (secure.sh says
# which files); clients find their credentials in STATE_DIR/client-security.json. Otherwise
# (no such file, or PLAINTEXT) the port is plaintext. A state folder keeps the security it
# was formatted with.
#
# Formats the storage on first use only, starts the JVM detached from the caller's session,
# writes its pid to STATE_DIR/kafka.pid and prints it. It does not wait for the broker to
# answer; the caller polls it.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=lib.sh
source "$here/lib.sh"
# shellcheck source=secure.sh
source "$here/secure.sh"

[[ $# -eq 4 || $# -eq 7 ]] \
    || die "usage: kafka-start.sh LIBS_DIR STATE_DIR PORT CONTROLLER_PORT [NODE_ID VOTERS CLUSTER_ID_FILE]"
libs_dir=$1
state_arg=$2
port=$3
controller_port=$4
node_id=${5:-1}
voters=${6:-1@127.0.0.1:$controller_port}

check_port "$port"
check_port "$controller_port"
[[ $port != "$controller_port" ]] || die "PORT and CONTROLLER_PORT must differ"
[[ $node_id =~ ^[0-9]+$ ]] || die "NODE_ID must be a whole number, not '$node_id'"
voter_re='[0-9]+@127\.0\.0\.1:[0-9]+'
[[ $voters =~ ^$voter_re(,$voter_re)*$ ]] \
    || die "VOTERS must be ID@127.0.0.1:PORT[,ID@127.0.0.1:PORT...], not '$voters'"
[[ ,$voters, == *",$node_id@127.0.0.1:$controller_port,"* ]] \
    || die "VOTERS ($voters) does not name node $node_id at controller port $controller_port"
IFS=, read -r -a voter_list <<<"$voters"
replicas=${#voter_list[@]}
((replicas <= 3)) || replicas=3
min_isr=1
((replicas < 3)) || min_isr=$((replicas - 1))
# `lineage down` stops every node of a cluster at once. A node waiting for the controller to
# approve its controlled shutdown would find the quorum gone with the other nodes and wait
# until killed; without it each node still flushes its logs and shuts down cleanly.
controlled_shutdown=true
((${#voter_list[@]} == 1)) || controlled_shutdown=false
require_java
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
jvm_marker="kafka.Kafka $config"
cluster_id_file=${7:-$state_dir/cluster.id}

refuse_if_running "$pid_file" "a broker of $state_dir" kafka-stop.sh
protocol=PLAINTEXT
[[ -f $state_dir/security ]] && protocol=$(<"$state_dir/security")
[[ $protocol == PLAINTEXT || $protocol == SASL_SSL ]] \
    || die "$state_dir/security holds '$protocol'; it must be PLAINTEXT or SASL_SSL"
formatted=0
[[ -f $data_dir/meta.properties ]] && formatted=1
if ((formatted)) && [[ $protocol == SASL_SSL && ! -f $state_dir/tls/scram.users ]]; then
    die "the broker of $state_dir was created without security; secure a new state folder instead"
fi
if [[ $protocol == PLAINTEXT && -f $state_dir/tls/scram.users ]]; then
    die "the broker of $state_dir was created secured (SASL_SSL) and stays so; write SASL_SSL to $state_dir/security"
fi
# Rendered at every start, so the ports follow the arguments.
(umask 077 && render_template "$here/server.properties.in" "$config" \
    PORT="$port" CONTROLLER_PORT="$controller_port" DATA_DIR="$data_dir" PROTOCOL="$protocol" \
    NODE_ID="$node_id" VOTERS="$voters" REPLICAS="$replicas" MIN_ISR="$min_isr" \
    CONTROLLED_SHUTDOWN="$controlled_shutdown")
scram_args=()
if [[ $protocol == SASL_SSL ]]; then
    secure_setup "$state_dir"
    secure_config "$config" "$state_dir"
    mapfile -t scram_args < <(scram_users "$state_dir")
else
    rm -f "$state_dir/client-security.json"
fi
fresh_log "$log_file"

classpath="$libs_dir/*"
if [[ ! -f $data_dir/meta.properties ]]; then
    # The cluster id is kept so that a re-format after a half-finished first attempt reuses it,
    # and so that every node of a cluster is formatted with the same one. It is what Kafka's
    # `StorageTool random-uuid` makes (16 random bytes, URL-safe base64, no padding, not
    # starting with '-'), made here to save a JVM start.
    if [[ ! -s $cluster_id_file ]]; then
        cluster_id=-
        while [[ $cluster_id == -* ]]; do
            cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
        done
        echo "$cluster_id" >"$cluster_id_file.$$.tmp"
        # A link never replaces a file: of the nodes of a cluster formatting at once, the
        # first to get here sets the id and every node reads that one.
        ln "$cluster_id_file.$$.tmp" "$cluster_id_file" 2>/dev/null || true
        rm -f "$cluster_id_file.$$.tmp"
    fi
    cluster_id=$(<"$cluster_id_file")
    # Its own log: the broker's log then tells about the broker only.
    format_log="$state_dir/format.log"
    if ! java -cp "$classpath" -Dlog4j2.configurationFile="$log4j" \
        kafka.tools.StorageTool format -t "$cluster_id" -c "$config" "${scram_args[@]}" \
        >"$format_log" 2>&1; then
        grep -v -E '^[[:space:]]+(at |\.\.\. [0-9]+ more)' "$format_log" | tail -n 15 >&2 || true
        die "formatting the storage in $data_dir failed (output above); full log: $format_log"
    fi
    # The users exist from the first start on; a folder formatted without them stays so.
    if [[ $protocol == SASL_SSL ]]; then
        : >"$state_dir/tls/scram.users"
    fi
fi

# shellcheck disable=SC2086  # KAFKA_HEAP_OPTS holds several JVM options on purpose.
start_detached "$log_file" "$pid_file" "the broker" "the Kafka JVM" \
    java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} -Djava.awt.headless=true \
    -cp "$classpath" -Dlog4j2.configurationFile="$log4j" kafka.Kafka "$config"
