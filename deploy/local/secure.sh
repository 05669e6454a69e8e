# Shell functions that secure the local Kafka broker: SASL/SCRAM over TLS. Sourced by
# kafka-start.sh when the state folder's `security` file says SASL_SSL, not run.
#
# Everything is generated once into the state folder and kept, readable by its owner only:
#   tls/ca.key, tls/ca.pem          a CA of this state folder alone, which clients trust
#   tls/broker.p12                  the broker's key and certificate (for 127.0.0.1 and
#                                   localhost, signed by that CA), a PKCS12 keystore
#   tls/keystore.password           the keystore's password
#   tls/admin.password              SCRAM user `admin`: the broker talking to itself
#   tls/lineage.password            SCRAM user `lineage`: the SDK, the worker, the CLI
#   client-security.json            what a client needs: protocol, mechanism, user, password
#                                   and CA file (read by collector.config.Settings)
# The SCRAM users are created when the storage is formatted (Kafka's --add-scram).

SCRAM_MECHANISM=SCRAM-SHA-512

# A random password of 32 letters and digits: safe in JSON, in JAAS and on a command line.
new_password() {
    local raw
    raw=$(head -c 48 /dev/urandom | base64 -w0 | tr -d '/+=')
    printf '%s' "${raw:0:32}"
}

# Write file $1 with content $2, readable by the owner only, unless it exists.
keep_secret() {
    [[ -s $1 ]] && return 0
    (umask 077 && printf '%s' "$2" >"$1.tmp") && mv "$1.tmp" "$1"
}

# Generate what is missing of the CA, the broker's keystore, the passwords and the client
# file, in state folder $1.
secure_setup() {
    local state_dir=$1 tls="$1/tls" ks_password
    command -v openssl >/dev/null \
        || die "openssl is not on PATH; it makes the secured broker's CA and keystore (apt-get install openssl)"
    mkdir -p "$tls" && chmod 700 "$tls" || die "cannot create $tls"
    keep_secret "$tls/keystore.password" "$(new_password)"
    keep_secret "$tls/admin.password" "$(new_password)"
    keep_secret "$tls/lineage.password" "$(new_password)"
    ks_password=$(<"$tls/keystore.password")
    if [[ ! -s $tls/ca.pem || ! -s $tls/broker.p12 ]]; then
        (
            umask 077
            cd "$tls"
            openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
                -keyout ca.key -out ca.pem -subj "/CN=lineage-collector local CA" \
                -addext "basicConstraints=critical,CA:TRUE" \
                -addext "keyUsage=critical,keyCertSign,cRLSign"
            openssl req -newkey rsa:2048 -nodes -sha256 -keyout broker.key -out broker.csr \
                -subj "/CN=localhost"
            # Clients check the name they dialled against the certificate: both ways in.
            printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' \
                >broker.ext
            openssl x509 -req -sha256 -days 3650 -in broker.csr -CA ca.pem -CAkey ca.key \
                -CAcreateserial -extfile broker.ext -out broker.pem
            openssl pkcs12 -export -in broker.pem -inkey broker.key -certfile ca.pem \
                -name broker -out broker.p12.tmp -passout "pass:$ks_password"
            mv broker.p12.tmp broker.p12
            rm -f broker.csr broker.ext ca.srl
        ) >"$tls/openssl.log" 2>&1 || {
            tail -n 15 "$tls/openssl.log" >&2
            die "making the broker's CA and keystore in $tls failed (output above)"
        }
    fi
    chmod 644 "$tls/ca.pem"  # the CA certificate is public; its key is not
    # Rewritten every time: it follows the passwords, which are kept.
    (umask 077 && printf '{"protocol": "SASL_SSL", "mechanism": "%s", "username": "lineage", "password": "%s", "ca_file": "%s"}\n' \
        "$SCRAM_MECHANISM" "$(<"$tls/lineage.password")" "$tls/ca.pem" >"$state_dir/client-security.json.tmp") \
        && mv "$state_dir/client-security.json.tmp" "$state_dir/client-security.json"
}

# Append the listener security of the secured broker to configuration file $1 (state folder
# $2): TLS with the generated keystore, SCRAM for clients and for the broker itself.
secure_config() {
    local config=$1 tls="$2/tls"
    cat >>"$config" <<PROPS

# Secured: SASL/SCRAM over TLS on the client listener (deploy/local/secure.sh).
sasl.enabled.mechanisms=$SCRAM_MECHANISM
sasl.mechanism.inter.broker.protocol=$SCRAM_MECHANISM
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(<"$tls/admin.password")";
ssl.keystore.type=PKCS12
ssl.keystore.location=$tls/broker.p12
ssl.keystore.password=$(<"$tls/keystore.password")
ssl.truststore.type=PEM
ssl.truststore.location=$tls/ca.pem
ssl.client.auth=none
PROPS
}

# The StorageTool arguments that create the SCRAM users when the storage is formatted.
scram_users() {
    local tls="$1/tls"
    printf '%s\n' --add-scram "$SCRAM_MECHANISM=[name=admin,password=$(<"$tls/admin.password")]" \
        --add-scram "$SCRAM_MECHANISM=[name=lineage,password=$(<"$tls/lineage.password")]"
}
