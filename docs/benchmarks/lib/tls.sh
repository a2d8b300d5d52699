# Shared by docs/benchmarks/h2.sh and docs/benchmarks/handshakes.sh, sourced after
# lib/bench.sh: one test certificate, cdn-edge and nginx both serving ROOT
# over TLS with it (HTTP/2 by ALPN), peak RSS, medians.

tls_deps() { # installs what both scripts need
    local -a need=()
    command -v h2load >/dev/null || need+=(nghttp2-client)
    command -v wrk >/dev/null || need+=(wrk)
    command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need+=(nginx)
    command -v openssl >/dev/null || need+=(openssl)
    command -v brotli >/dev/null || need+=(brotli)
    command -v curl >/dev/null || need+=(curl)
    command -v python3 >/dev/null || need+=(python3)
    command -v pgrep >/dev/null || need+=(procps)
    nginx_module ngx_http_brotli_static_module.so >/dev/null || need+=(libnginx-mod-http-brotli-static)
    ((${#need[@]} == 0)) && return 0
    log "installing missing packages: ${need[*]}"
    apt_install "${need[@]}" || die "could not install ${need[*]}"
}

make_cert() { # make_cert DIR: an ECDSA P-256 certificate for localhost / 127.0.0.1
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$1/key.pem" -out "$1/cert.pem" -days 7 -subj /CN=localhost \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null ||
        die "openssl could not make a certificate"
}

start_tls_node() { # start_tls_node DIR BIN ROOT CERTDIR: sets NODE_PID, NODE_TLS (host:port),
    # NODE_ADDR (plain host:port); $NODE_TLS_EXTRA lines go into [tls]
    local dir=$1 bin=$2 root=$3 certs=$4 _
    mkdir -p "$dir"
    cat >"$dir/edge.toml" <<CONF
[server]
listen = "127.0.0.1:0"
root = "$root"
workers = ${NODE_WORKERS:-0}
[log]
access = "off"   # like the nginx it is compared with (access_log off)
[tls]
listen = "127.0.0.1:0"
cert = "$certs/cert.pem"
key = "$certs/key.pem"
${NODE_TLS_EXTRA:-}
CONF
    "$bin" serve --config "$dir/edge.toml" 2>"$dir/stderr" >/dev/null &
    NODE_PID=$!
    STARTED+=("$NODE_PID")
    NODE_TLS=""
    for _ in $(seq 300); do
        NODE_TLS=$(grep -o 'listening on https://[0-9.]*:[0-9]*' "$dir/stderr" | head -n1 | sed 's|.*https://||') || true
        NODE_ADDR=$(grep -o 'listening on http://[0-9.]*:[0-9]*' "$dir/stderr" | head -n1 | sed 's|.*http://||') || true
        [[ -n $NODE_TLS ]] && return 0
        kill -0 "$NODE_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$dir/stderr" >&2
    die "cdn-edge did not start ($dir/stderr)"
}

start_tls_nginx() { # start_tls_nginx DIR ROOT CERTDIR: sets NGINX_PIDS (master first), NGINX_TLS;
    # $NGINX_SSL_SESSIONS replaces the session settings (default: cache and tickets on)
    local dir=$1 root=$2 certs=$3 user_line="" nginx port _ workers=()
    nginx=$(command -v nginx || echo /usr/sbin/nginx)
    ((EUID == 0)) && user_line="user $(id -un) $(id -gn);"
    port=$(free_port)
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<CONF
load_module $(nginx_module ngx_http_brotli_static_module.so);
$user_line
worker_processes auto;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    server_tokens off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    open_file_cache max=10000 inactive=60s;
    open_file_cache_valid 60s;
    gzip_static on;
    brotli_static on;
    etag on;
$(nginx_temp_paths "$dir")
    ssl_certificate $certs/cert.pem;
    ssl_certificate_key $certs/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ${NGINX_SSL_SESSIONS:-ssl_session_cache shared:SSL:10m; ssl_session_tickets on;}
    server {
        listen 127.0.0.1:$port ssl http2;
        server_name localhost;
        root $root;
    }
}
CONF
    "$nginx" -t -q -p "$dir/" -e "$dir/error.log" -c "$dir/nginx.conf" ||
        die "nginx config test failed ($dir/nginx.conf)"
    "$nginx" -p "$dir/" -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/stdout" 2>&1 &
    NGINX_PIDS=("$!")
    STARTED+=("$!")
    NGINX_TLS=127.0.0.1:$port
    for _ in $(seq 100); do
        curl -sk -o /dev/null --max-time 1 "https://$NGINX_TLS/" && break
        sleep 0.1
    done
    for _ in $(seq 50); do
        mapfile -t workers < <(pgrep -P "${NGINX_PIDS[0]}" || true)
        ((${#workers[@]} >= $(nproc))) && break
        sleep 0.1
    done
    NGINX_PIDS+=("${workers[@]}")
    STARTED+=("${workers[@]}")
}

median() { # median NUMBER...
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
