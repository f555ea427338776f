# Helpers of scripts/test, meant to be sourced: installing Debian packages, and a throwaway
# PostgreSQL server on 127.0.0.1 for the test suite.
# Sets CLERK_TEST_POSTGRES_URL and stops and deletes the server when the calling shell exits.
# Installs Debian's `postgresql` package with apt-get when no server binaries are found.

# Installs Debian packages by name when a command they provide is missing.
ensure_debian_packages() {
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "clerk: installing $* (Debian packages) for the test suite" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

find_pg_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

start_throwaway_postgres() {
    local bin
    bin=$(find_pg_bin)
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
        ensure_debian_packages postgresql
        bin=$(find_pg_bin)
    fi
    [ -x "$bin/initdb" ] || { echo "clerk: no PostgreSQL server binaries found" >&2; return 1; }

    PG_DIR=$(mktemp -d /tmp/clerk-pg.XXXXXX)
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
        || echo $((20000 + RANDOM % 20000)))
    # PostgreSQL refuses to run as root: run it as the `postgres` user when we are root.
    PG_AS=()
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
        chown postgres "$PG_DIR"
        PG_AS=(su postgres -s /bin/bash -c)
    else
        PG_AS=(bash -c)
    fi
    "${PG_AS[@]}" "'$bin/initdb' -D '$PG_DIR/data' -U postgres --auth=trust -E UTF8 >'$PG_DIR/initdb.log' 2>&1" \
        || { cat "$PG_DIR/initdb.log" >&2; return 1; }
    "${PG_AS[@]}" "'$bin/pg_ctl' -D '$PG_DIR/data' -l '$PG_DIR/server.log' -w -o \"-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$PG_DIR' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300\" start >/dev/null" \
        || { cat "$PG_DIR/server.log" >&2; return 1; }
    PG_BIN=$bin
    export CLERK_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
    trap stop_throwaway_postgres EXIT
    echo "clerk: throwaway PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
}

stop_throwaway_postgres() {
    if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ]; then
        "${PG_AS[@]}" "'$PG_BIN/pg_ctl' -D '$PG_DIR/data' -m immediate stop >/dev/null 2>&1" || true
        rm -rf "$PG_DIR"
    fi
}
