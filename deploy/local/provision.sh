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
# shellcheck source=lib.sh
source "$here/lib.sh"

provision_args "$@"
read_pom "$here/pom.xml" kafka.version deploy/local

has_payload() {
    [[ -d $1/libs ]]
}

provision_tools() {
    require_mvn
    require_java
}

provision_fetch() {
    echo "==> Provisioning Apache Kafka $version from Maven Central into $dest (only once)" >&2
    run_maven "Maven could not resolve the Kafka jars" -f build-pom.xml \
        dependency:copy-dependencies -DoutputDirectory="$tmp/libs" -DincludeScope=runtime
    compgen -G "$tmp/libs/kafka_2.13-*.jar" >/dev/null \
        || die "Maven finished but the Kafka broker jar is not among the downloaded jars"
}

provision_ready() {
    echo "==> Kafka $version is ready ($(ls "$dest/libs" | wc -l) jars)" >&2
}

provision "kafka-$version" libs .provision.lock
