# Shell functions shared by the scripts that provision, start and stop the local JVM services:
# the Kafka broker (this folder) and the schema registry (registry/). Sourced, not run.
#
# A script that uses the process functions first sets jvm_marker: words that the command line
# of this state folder's JVM holds, and no other's (the path of its configuration file).
# Sourcing runs nothing and the functions up to the provisioning checks use bash builtins only,
# so that `provision.sh --check` works with a PATH that holds nothing else.

die() {
    echo "${0##*/}: error: $*" >&2
    exit 1
}

require_java() {
    command -v java >/dev/null \
        || die "java is not on PATH; install Java 17 or newer, e.g. apt-get install openjdk-17-jre-headless"
}

require_mvn() {
    command -v mvn >/dev/null || die "mvn (Apache Maven) is not on PATH; install it, e.g. apt-get install maven"
}

check_port() {
    [[ $1 =~ ^[0-9]+$ ]] && (($1 > 0 && $1 < 65536)) || die "'$1' is not a TCP port"
}

# -- processes --------------------------------------------------------------------------------

# True if process $1 is this state folder's JVM. Builtins only: this runs for every process in
# /proc.
is_our_jvm() {
    local -a args
    { mapfile -d '' -t args <"/proc/$1/cmdline"; } 2>/dev/null || return 1
    # A zombie has an empty command line and so does not count: it is gone already. So does
    # a process in the middle of exec, for a moment.
    ((${#args[@]} > 0)) || return 1
    # The program must be java itself: while setsid is about to exec the JVM, its own command
    # line also holds the marker.
    [[ ${args[0]##*/} == java && " ${args[*]} " == *" $jvm_marker "* ]]
}

# Gone, or a zombie: until the starting script exits, a JVM that died at once is its unreaped
# child.
has_exited() {
    local stat
    { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 0
    [[ ${stat##*) } == Z* ]]
}

# Exit with an error if pid file $1 names a running JVM of this state folder ($2 says whose,
# $3 which script stops it); remove it if it is left over from a crash or a reboot (the pid is
# dead or belongs to someone else now).
refuse_if_running() {
    local old_pid
    [[ -f $1 ]] || return 0
    old_pid=$(<"$1")
    if [[ $old_pid =~ ^[0-9]+$ ]] && is_our_jvm "$old_pid"; then
        die "$2 is already running (pid $old_pid); stop it with $3"
    fi
    rm -f "$1"
}

# Render template $1 into $2 (through a temporary file), replacing @KEY@ by VALUE for every
# further argument KEY=VALUE, in order. Quoted replacements keep '&' and backslashes literal.
render_template() {
    local text pair
    text=$(<"$1")
    for pair in "${@:3}"; do
        text=${text//"@${pair%%=*}@"/"${pair#*=}"}
    done
    printf '%s\n' "$text" >"$2.tmp"
    mv "$2.tmp" "$2"
}

# Keep the previous run's log $1 as $1.1 for post-mortems; the current one starts empty so that
# its tail is about this run only.
fresh_log() {
    [[ -f $1 ]] && mv -f "$1" "$1.1"
    : >"$1"
}

# Start the JVM command "${@:5}" detached, its output appended to log $1, and wait until its
# process is this state folder's JVM; then write its pid to pid file $2 and print it. $3 names
# the service in messages ("the broker"), $4 its JVM ("the Kafka JVM").
start_detached() {
    local log_file=$1 pid_file=$2 what=$3 jvm=$4 pid deadline
    shift 4
    # setsid: the JVM must outlive the command that started it and must not receive the
    # terminal's Ctrl-C. Without job control this shell's children are not group leaders, so
    # setsid execs in place and $! is the JVM's own pid.
    setsid "$@" >>"$log_file" 2>&1 </dev/null &
    pid=$!
    # $! exists as soon as the fork does, a moment before the exec of java; whoever reads the
    # pid file identifies the JVM by its command line, so wait until that is the JVM's.
    deadline=$((SECONDS + 10))
    until is_our_jvm "$pid"; do
        if has_exited "$pid"; then
            tail -n 15 "$log_file" >&2 || true
            die "$what exited at once (output above); full log: $log_file"
        fi
        if ((SECONDS >= deadline)); then
            kill -KILL "$pid" 2>/dev/null || true
            die "process $pid did not turn into $jvm within 10 s; see $log_file"
        fi
        sleep 0.05
    done
    echo "$pid" >"$pid_file.tmp"
    mv "$pid_file.tmp" "$pid_file"
    echo "$pid"
}

# The pids of this state folder's JVMs: the one pid file $1 names, and any found in /proc.
our_jvms() {
    local pid path
    if [[ -f $1 ]]; then
        pid=$(<"$1")
        [[ $pid =~ ^[0-9]+$ ]] && is_our_jvm "$pid" && echo "$pid"
    fi
    for path in /proc/[0-9]*; do
        pid=${path#/proc/}
        is_our_jvm "$pid" && echo "$pid"
    done
    return 0
}

# Those of the pids "$@" that are still this state folder's JVMs.
alive() {
    local pid
    for pid in "$@"; do
        is_our_jvm "$pid" && echo "$pid"
    done
    return 0
}

# A stop script's arguments, STATE_DIR [TIMEOUT_SECONDS], into state_dir (physical) and
# timeout (default 30). Without a STATE_DIR folder nothing runs: print "not running" and exit.
stop_args() {
    [[ $# -ge 1 && $# -le 2 && -n $1 ]] || die "usage: ${0##*/} STATE_DIR [TIMEOUT_SECONDS]"
    timeout=${2:-30}
    [[ $timeout =~ ^[0-9]+$ ]] || die "TIMEOUT_SECONDS must be a whole number of seconds, not '$timeout'"
    if [[ ! -d $1 ]]; then
        echo "not running"
        exit 0
    fi
    state_dir=$(cd "$1" && pwd -P)
}

# Stop this state folder's JVMs and leave none behind: SIGTERM, then SIGKILL for whatever is
# still alive after $2 seconds. Pid file $1 is a hint, not proof (see our_jvms); it is removed.
# $3 names the service in messages ("broker"). Prints "stopped" if it ended a JVM, "not
# running" otherwise.
stop_jvms() {
    local pid_file=$1 timeout=$2 what=$3 deadline
    local -a pids
    mapfile -t pids < <(our_jvms "$pid_file" | sort -un)
    if ((${#pids[@]} == 0)); then
        rm -f "$pid_file"
        echo "not running"
        return 0
    fi
    # SIGTERM runs the JVM's shutdown hooks: Kafka flushes its logs, so that the next start
    # needs no log recovery; the registry finishes the requests in flight and closes its H2
    # database cleanly.
    kill -TERM "${pids[@]}" 2>/dev/null || true
    deadline=$((SECONDS + timeout))
    while :; do
        mapfile -t pids < <(alive "${pids[@]}")
        ((${#pids[@]} == 0)) && break
        if ((SECONDS >= deadline)); then
            echo "${0##*/}: $what ${pids[*]} did not stop within ${timeout}s; killing it" >&2
            kill -KILL "${pids[@]}" 2>/dev/null || true
            for _ in $(seq 50); do
                mapfile -t pids < <(alive "${pids[@]}")
                ((${#pids[@]} == 0)) && break
                sleep 0.1
            done
            ((${#pids[@]} == 0)) || die "$what ${pids[*]} survived SIGKILL"
            break
        fi
        sleep 0.1
    done
    rm -f "$pid_file"
    echo "stopped"
}

# -- provisioning -------------------------------------------------------------------------------
#
# provision.sh fetches a service from Maven Central into a cache folder once. A copy of the
# pom.xml that produced the download is the completion marker: it is written last, inside a
# temporary folder that is then renamed into place, so an interrupted download never looks
# complete, and editing pom.xml makes the next call fetch afresh. Lines starting with "==> " on
# stderr are progress.

# provision.sh's arguments, [--check] CACHE_DIR, into check_only and cache_dir.
provision_args() {
    check_only=0
    if [[ ${1:-} == --check ]]; then
        check_only=1
        shift
    fi
    [[ $# -eq 1 && -n $1 ]] || die "usage: provision.sh [--check] CACHE_DIR"
    cache_dir=$1
}

# pom.xml $1 into pom and pom_text, and the value of its property <$2> into version; $3 names
# the folder the pom belongs to.
read_pom() {
    local version_re="<$2>([^<]+)</$2>"
    pom=$1
    [[ -f $pom ]] || die "$pom is missing; the $3 folder is incomplete"
    pom_text=$(<"$pom")
    [[ $pom_text =~ $version_re ]] || die "$pom does not declare <$2>"
    version=${BASH_REMATCH[1]}
}

is_provisioned() {
    [[ -f $dest/pom.xml ]] && has_payload "$dest" && [[ $(<"$dest/pom.xml") == "$pom_text" ]]
}

# Provision into CACHE_DIR/$1 unless that is done already, then print CACHE_DIR/$1/$2; with
# --check, print it or exit 3. $3 is the name of the lock file in the cache folder. After
# provision_args and read_pom; the caller defines
#   has_payload DIR   true if DIR holds the complete download
#   provision_tools   exit with an error unless the tools that provision_fetch needs are here
#   provision_fetch   fetch into $tmp (pom.xml copied to $tmp/build-pom.xml, see run_maven);
#                     say so on stderr
#   provision_ready   say on stderr that it is done
provision() {
    local name=$1 result=$2 lock=$3 old
    dest="$cache_dir/$name"
    # Builtins only up to the --check answer: the caller uses it to decide whether Maven is
    # needed at all.
    if is_provisioned; then
        echo "$dest/$result"
        exit 0
    fi
    if ((check_only)); then
        exit 3
    fi

    provision_tools
    mkdir -p "$cache_dir" || die "cannot create the cache folder $cache_dir"
    cache_dir=$(cd "$cache_dir" && pwd -P)
    dest="$cache_dir/$name"

    # Two provisioners at once (two `lineage up` in parallel) would race on the rename; the
    # second waits here and then finds the work done.
    exec 9>"$cache_dir/$lock"
    if command -v flock >/dev/null; then
        flock 9
    fi
    if is_provisioned; then
        echo "$dest/$result"
        exit 0
    fi

    tmp=$(mktemp -d "$cache_dir/.$name.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    # Turn Ctrl-C and SIGTERM into an ordinary exit so the EXIT trap clears the partial download.
    trap 'exit 130' INT TERM
    cp "$pom" "$tmp/build-pom.xml"
    provision_fetch
    rm -f "$tmp/maven.log" "$tmp/build-pom.xml"
    cp "$pom" "$tmp/pom.xml"

    # Swap in the complete folder; a stale one from another pom.xml is moved aside first.
    if [[ -e $dest ]]; then
        old="$tmp.old"
        mv "$dest" "$old"
        rm -rf "$old"
    fi
    mv -T "$tmp" "$dest"
    trap - EXIT INT TERM
    provision_ready
    echo "$dest/$result"
}

# Run Maven in $tmp with the options "${@:2}", so that it writes nothing into the source tree;
# if it fails, show the end of its output and exit with an error that says $1.
run_maven() {
    local failure=$1
    shift
    if ! (cd "$tmp" && mvn -B -q --no-transfer-progress "$@" >"$tmp/maven.log" 2>&1); then
        tail -n 25 "$tmp/maven.log" >&2 || true
        die "$failure (output above); check access to Maven Central and retry"
    fi
}
