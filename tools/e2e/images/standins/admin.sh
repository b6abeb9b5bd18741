#!/bin/sh
# Stand-in for the admin-cli image's ./admin.sh (dittofeed v0.23.0, packages/admin-cli): the
# commands the program's jobs run. `migrate` and `bootstrap` write to the tenant's database
# through DATABASE_URL, `bootstrap-clickhouse` creates a table through CLICKHOUSE_HOST with the
# tenant's ClickHouse user; an unknown command fails as yargs does (exit 1).
set -eu
case "${1:-}" in
  migrate) exec node /standin/admin.js migrate ;;
  bootstrap) shift; exec node /standin/admin.js bootstrap "$@" ;;
  bootstrap-clickhouse) exec node /standin/admin.js bootstrap-clickhouse ;;
  *) echo "Unknown command: ${1:-}" >&2; exit 1 ;;
esac
