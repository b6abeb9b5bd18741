/**
 * Postgres as plain data: the script that rotates the superuser's password. The official image
 * reads `POSTGRES_PASSWORD` only when it initialises an empty data directory
 * (docker-library/postgres, docker-entrypoint.sh), so a new password in config changes nothing
 * on a running server, and the postgresql provider, which then logs in with the new one, would be
 * locked out.
 */

/** The environment the rotation script reads; the libpq variables name the server. */
export interface RotationEnv {
  PGHOST: string;
  PGPORT: string;
  PGUSER: string;
  PGDATABASE: string;
  OLD_PASSWORD: string;
  NEW_PASSWORD: string;
}

/**
 * Logs in with the new password and stops if that works (already rotated, or a fresh server
 * initialised with it); otherwise logs in with the old one and sets the new. No password is on
 * a command line: libpq reads `PGPASSWORD`, and psql's `\getenv` (psql 15) takes the new one from
 * the environment into a variable that `:'...'` quotes as a literal.
 */
export function rotateSuperuserScript(): string {
  return [
    "set -u",
    'if PGPASSWORD="$NEW_PASSWORD" psql -X -tAc "SELECT 1" >/dev/null 2>&1; then',
    '  echo "The superuser already has the new password"',
    "  exit 0",
    "fi",
    "printf '%s\\n' '\\getenv new_password NEW_PASSWORD' \"ALTER ROLE CURRENT_USER PASSWORD :'new_password';\" |",
    '  PGPASSWORD="$OLD_PASSWORD" psql -X -q -v ON_ERROR_STOP=1 || exit 1',
    'echo "The superuser\'s password is rotated"',
  ].join("\n");
}
