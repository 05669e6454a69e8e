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
# shellcheck source=lib.sh
source "$here/lib.sh"

provision_args "$@"
read_pom "$here/pom.xml" apicurio.version deploy/local/registry
runner="apicurio-registry-app-$version-runner.jar"

has_payload() {
    [[ -f $1/app/$runner && -d $1/app/lib ]]
}

provision_tools() {
    require_mvn
    command -v tar >/dev/null || die "tar is not on PATH"
}

provision_fetch() {
    local archive="$tmp/download/apicurio-registry-app-$version-all.tar.gz"
    echo "==> Provisioning Apicurio Registry $version from Maven Central into $dest (only once, about 110 MB)" >&2
    # --strict-checksums: a corrupted download of the archive fails here rather than at the
    # server's start.
    run_maven "Maven could not fetch io.apicurio:apicurio-registry-app:$version:tar.gz:all" \
        --strict-checksums -f build-pom.xml dependency:copy -DoutputDirectory="$tmp/download"
    [[ -f $archive ]] || die "Maven finished but $archive was not downloaded"
    mkdir "$tmp/app"
    tar -xzf "$archive" -C "$tmp/app" || die "unpacking $archive failed"
    has_payload "$tmp" \
        || die "the downloaded archive does not hold $runner and lib/; is <apicurio.version> a 3.0.x release?"
    rm -rf "$tmp/download"
}

provision_ready() {
    echo "==> Apicurio Registry $version is ready ($(ls "$dest/app/lib" | wc -l) jars)" >&2
}

provision "apicurio-registry-$version" app .provision-registry.lock
