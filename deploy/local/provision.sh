#!/usr/bin/env bash
# Provision the jars of a single-node Apache Kafka broker from Maven Central, once.
#
# Usage: provision.sh CACHE_DIR           download if needed; print the libs folder
#        provision.sh --check CACHE_DIR   print the libs folder and exit 0 if provisioned,
#                                         exit 3 if not (never downloads, needs no tools)
#
# The jars land in CACHE_DIR/kafka-<version>/libs. A copy of the pom.xml that produced them
# is the completion marker: it is written last, inside a temporary folder that is then
# renamed into place, so an interrupted download never looks complete, and editing pom.xml
# makes the next call fetch a fresh set. Lines starting with "==> " on stderr are progress.
set -euo pipefail

here=${BASH_SOURCE[0]%/*}
[[ $here == "${BASH_SOURCE[0]}" ]] && here=.
pom="$here/pom.xml"

die() {
    echo "provision.sh: error: $*" >&2
    exit 1
}

check_only=0
if [[ ${1:-} == --check ]]; then
    check_only=1
    shift
fi
[[ $# -eq 1 && -n $1 ]] || die "usage: provision.sh [--check] CACHE_DIR"
cache_dir=$1
[[ -f $pom ]] || die "$pom is missing; the deploy/local folder is incomplete"

# Only bash builtins up to the --check answer: the caller uses it to decide whether Maven is
# needed at all, possibly with a PATH that holds nothing else.
pom_text=$(<"$pom")
version_re='<kafka.version>([^<]+)</kafka.version>'
[[ $pom_text =~ $version_re ]] || die "$pom does not declare <kafka.version>"
version=${BASH_REMATCH[1]}
dest="$cache_dir/kafka-$version"
marker="$dest/pom.xml"

is_provisioned() {
    [[ -f $marker && -d $dest/libs ]] && [[ $(<"$marker") == "$pom_text" ]]
}

if is_provisioned; then
    echo "$dest/libs"
    exit 0
fi
if ((check_only)); then
    exit 3
fi

command -v mvn >/dev/null || die "mvn (Apache Maven) is not on PATH; install it, e.g. apt-get install maven"
command -v java >/dev/null || die "java is not on PATH; install Java 17 or newer, e.g. apt-get install openjdk-17-jre-headless"

mkdir -p "$cache_dir" || die "cannot create the cache folder $cache_dir"
cache_dir=$(cd "$cache_dir" && pwd -P)
dest="$cache_dir/kafka-$version"
marker="$dest/pom.xml"

# Two provisioners at once (two `lineage up` in parallel) would race on the rename; the second
# waits here and then finds the work done.
exec 9>"$cache_dir/.provision.lock"
if command -v flock >/dev/null; then
    flock 9
fi
if is_provisioned; then
    echo "$dest/libs"
    exit 0
fi

tmp=$(mktemp -d "$cache_dir/.kafka-$version.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# Turn Ctrl-C and SIGTERM into an ordinary exit so the EXIT trap clears the partial download.
trap 'exit 130' INT TERM
cp "$pom" "$tmp/build-pom.xml"

echo "==> Provisioning Apache Kafka $version from Maven Central into $dest (only once)" >&2
# Run from the temporary folder so Maven writes nothing into the source tree.
if ! (cd "$tmp" && mvn -B -q --no-transfer-progress -f build-pom.xml \
    dependency:copy-dependencies -DoutputDirectory="$tmp/libs" -DincludeScope=runtime \
    >"$tmp/maven.log" 2>&1); then
    tail -n 25 "$tmp/maven.log" >&2 || true
    die "Maven could not resolve the Kafka jars (output above); check access to Maven Central and retry"
fi
compgen -G "$tmp/libs/kafka_2.13-*.jar" >/dev/null \
    || die "Maven finished but the Kafka broker jar is not among the downloaded jars"
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
echo "==> Kafka $version is ready ($(ls "$dest/libs" | wc -l) jars)" >&2
echo "$dest/libs"
