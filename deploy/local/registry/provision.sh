#!/usr/bin/env bash
# Provision Apicurio Registry (Confluent-compatible schema registry) from Maven Central, once.
#
# Usage: provision.sh CACHE_DIR           download if needed; print the application folder
#        provision.sh --check CACHE_DIR   print the application folder and exit 0 if
#                                         provisioned, exit 3 if not (never downloads, needs
#                                         no tools)
#
# The server lands in CACHE_DIR/apicurio-registry-<version>/app (the runner jar and its lib/).
# A copy of the pom.xml that produced it is the completion marker: it is written last, inside
# a temporary folder that is then renamed into place, so an interrupted download never looks
# complete, and editing pom.xml makes the next call fetch a fresh copy. Lines starting with
# "==> " on stderr are progress.
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
[[ -f $pom ]] || die "$pom is missing; the deploy/local/registry folder is incomplete"

# Only bash builtins up to the --check answer: the caller uses it to decide whether Maven is
# needed at all, possibly with a PATH that holds nothing else.
pom_text=$(<"$pom")
version_re='<apicurio.version>([^<]+)</apicurio.version>'
[[ $pom_text =~ $version_re ]] || die "$pom does not declare <apicurio.version>"
version=${BASH_REMATCH[1]}
runner="apicurio-registry-app-$version-runner.jar"
dest="$cache_dir/apicurio-registry-$version"
marker="$dest/pom.xml"

is_provisioned() {
    [[ -f $marker && -f $dest/app/$runner && -d $dest/app/lib ]] \
        && [[ $(<"$marker") == "$pom_text" ]]
}

if is_provisioned; then
    echo "$dest/app"
    exit 0
fi
if ((check_only)); then
    exit 3
fi

command -v mvn >/dev/null || die "mvn (Apache Maven) is not on PATH; install it, e.g. apt-get install maven"
command -v tar >/dev/null || die "tar is not on PATH"

mkdir -p "$cache_dir" || die "cannot create the cache folder $cache_dir"
cache_dir=$(cd "$cache_dir" && pwd -P)
dest="$cache_dir/apicurio-registry-$version"
marker="$dest/pom.xml"

# Two provisioners at once would race on the rename; the second waits here and then finds
# the work done.
exec 9>"$cache_dir/.provision-registry.lock"
if command -v flock >/dev/null; then
    flock 9
fi
if is_provisioned; then
    echo "$dest/app"
    exit 0
fi

tmp=$(mktemp -d "$cache_dir/.apicurio-registry-$version.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# Turn Ctrl-C and SIGTERM into an ordinary exit so the EXIT trap clears the partial download.
trap 'exit 130' INT TERM
cp "$pom" "$tmp/build-pom.xml"

echo "==> Provisioning Apicurio Registry $version from Maven Central into $dest (only once, about 110 MB)" >&2
# Run from the temporary folder so Maven writes nothing into the source tree. --strict-checksums:
# a corrupted download of the archive fails here rather than at the server's start.
if ! (cd "$tmp" && mvn -B -q --no-transfer-progress --strict-checksums -f build-pom.xml \
    dependency:copy -DoutputDirectory="$tmp/download" \
    >"$tmp/maven.log" 2>&1); then
    tail -n 25 "$tmp/maven.log" >&2 || true
    die "Maven could not fetch io.apicurio:apicurio-registry-app:$version:tar.gz:all (output above); check access to Maven Central and retry"
fi
archive="$tmp/download/apicurio-registry-app-$version-all.tar.gz"
[[ -f $archive ]] || die "Maven finished but $archive was not downloaded"
mkdir "$tmp/app"
tar -xzf "$archive" -C "$tmp/app" || die "unpacking $archive failed"
[[ -f $tmp/app/$runner && -d $tmp/app/lib ]] \
    || die "the downloaded archive does not hold $runner and lib/; is <apicurio.version> a 3.0.x release?"
rm -rf "$tmp/download" "$tmp/maven.log" "$tmp/build-pom.xml"
cp "$pom" "$tmp/pom.xml"

# Swap in the complete folder; a stale one from another pom.xml is moved aside first.
if [[ -e $dest ]]; then
    old="$tmp.old"
    mv "$dest" "$old"
    rm -rf "$old"
fi
mv -T "$tmp" "$dest"
trap - EXIT INT TERM
echo "==> Apicurio Registry $version is ready ($(ls "$dest/app/lib" | wc -l) jars)" >&2
echo "$dest/app"
