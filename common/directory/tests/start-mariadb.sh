#!/bin/sh
# Start a throwaway MariaDB server on 127.0.0.1 for the gromox-directory tests and create the
# test user. Needs the Debian package mariadb-server (apt-get install -y mariadb-server).
# Prints the line to export; CI can do:
#     eval "$(sh common/directory/tests/start-mariadb.sh)"
# Environment: GROMOX_MARIADB_DIR (default /tmp/gromox-mariadb), GROMOX_MARIADB_PORT (3307, so a system MariaDB on 3306 does not clash).
set -eu
DIR=${GROMOX_MARIADB_DIR:-/tmp/gromox-mariadb}
PORT=${GROMOX_MARIADB_PORT:-3307}
SOCK="$DIR/mysqld.sock"
if ! command -v mariadbd >/dev/null 2>&1; then
    echo "start-mariadb.sh: mariadbd not found; apt-get install -y mariadb-server" >&2
    exit 1
fi
mkdir -p "$DIR"
if [ ! -d "$DIR/data/mysql" ]; then
    mariadb-install-db --user=root --datadir="$DIR/data" --auth-root-authentication-method=socket \
        --skip-test-db >"$DIR/install.log" 2>&1
fi
if ! mariadb-admin --socket="$SOCK" -uroot ping >/dev/null 2>&1; then
    nohup mariadbd --user=root --datadir="$DIR/data" --socket="$SOCK" --port="$PORT" \
        --bind-address=127.0.0.1 --pid-file="$DIR/mysqld.pid" --log-error="$DIR/error.log" \
        --skip-log-bin --innodb-buffer-pool-size=32M >/dev/null 2>&1 &
    i=0
    until mariadb-admin --socket="$SOCK" -uroot ping >/dev/null 2>&1; do
        i=$((i + 1))
        if [ "$i" -gt 60 ]; then
            echo "start-mariadb.sh: server did not start; see $DIR/error.log" >&2
            exit 1
        fi
        sleep 0.5
    done
fi
mariadb --socket="$SOCK" -uroot -e "CREATE USER IF NOT EXISTS 'gromoxtest'@'127.0.0.1' IDENTIFIED BY 'gromoxtest';
GRANT ALL PRIVILEGES ON *.* TO 'gromoxtest'@'127.0.0.1'; FLUSH PRIVILEGES;"
echo "export GROMOX_TEST_MYSQL=mysql://gromoxtest:gromoxtest@127.0.0.1:$PORT/"
