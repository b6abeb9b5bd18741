/**
 * The SQL the postgresql provider issues for the program's roles, databases and grants, so that
 * the suite (against its own PostgreSQL) and the e2e run (against the Postgres container) apply
 * the program's declarations as `pulumi up` would.
 */
import type * as postgresql from "@pulumi/postgresql";
import type * as pulumi from "@pulumi/pulumi";

/**
 * terraform-provider-postgresql at commit ff936b95 (v1.27.0, which @pulumi/postgresql 3.18.x wraps),
 * postgresql/helpers.go: doubles `\` and `'` and puts the result in a plain `'...'` literal (never
 * `E'...'`), which the server reads with standard_conforming_strings on.
 */
export function pqQuoteLiteral(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/'/g, "''");
}

/** lib/pq's QuoteIdentifier: `"` doubled inside double quotes. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The inputs of a `postgresql.Role` as the program declares it, resolved. */
export type RoleInputs = pulumi.Unwrap<postgresql.RoleArgs> & { name: string; password: string };

/**
 * `postgresql.Role` create (resource_postgresql_role.go, createRole): one `CREATE ROLE ... WITH`
 * statement with every attribute spelled out and `ENCRYPTED PASSWORD '<pqQuoteLiteral>'`.
 */
export function createRoleSql(role: RoleInputs): string {
  const flag = (on: boolean | undefined, name: string) => (on ? name : `NO${name}`);
  return [
    `CREATE ROLE ${quoteIdentifier(role.name)} WITH`,
    flag(role.superuser, "SUPERUSER"),
    flag(role.createDatabase, "CREATEDB"),
    flag(role.createRole, "CREATEROLE"),
    "INHERIT",
    flag(role.login, "LOGIN"),
    "NOREPLICATION",
    flag(role.bypassRowLevelSecurity, "BYPASSRLS"),
    `CONNECTION LIMIT ${role.connectionLimit ?? -1}`,
    `ENCRYPTED PASSWORD '${pqQuoteLiteral(role.password)}'`,
  ].join(" ");
}

/**
 * `postgresql.Database` create (resource_postgresql_database.go, createDatabase), run by the
 * superuser, who needs no membership in the owner role.
 */
export function createDatabaseSql(name: string, owner: string): string {
  return (
    `CREATE DATABASE ${quoteIdentifier(name)} OWNER ${quoteIdentifier(owner)} TEMPLATE template0 ` +
    "ENCODING 'UTF8' ALLOW_CONNECTIONS true CONNECTION LIMIT -1 IS_TEMPLATE false"
  );
}

/**
 * `postgresql.Grant` on a database (resource_postgresql_grant.go, createGrant): in one
 * transaction, advisory locks on the role, its members and the database (helpers.go, pgLockRole
 * and pgLockDatabase: two grants on one database would otherwise update its catalog row at once
 * and fail with "tuple concurrently updated"), the role's privileges revoked (createRevokeQuery),
 * then the listed ones granted (createGrantQuery; no GRANT follows an empty list), run while
 * connected to that database.
 */
export function databaseGrantSql(database: string, role: string, privileges: string[]): string[] {
  const on = `ON DATABASE ${quoteIdentifier(database)}`;
  const [roleName, databaseName] = [role, database].map((v) => `'${pqQuoteLiteral(v)}'`);
  return [
    "BEGIN",
    "SET statement_timeout = 0",
    `SELECT pg_advisory_xact_lock(oid::bigint) FROM pg_roles WHERE rolname = ${roleName}`,
    `SELECT pg_advisory_xact_lock(member::bigint) FROM pg_auth_members JOIN pg_roles ON roleid = pg_roles.oid WHERE rolname = ${roleName}`,
    `SELECT pg_advisory_xact_lock(oid::bigint) FROM pg_database WHERE datname = ${databaseName}`,
    `REVOKE ALL PRIVILEGES ${on} FROM ${quoteIdentifier(role)}`,
    ...(privileges.length > 0
      ? [`GRANT ${privileges.join(",")} ${on} TO ${quoteIdentifier(role)}`]
      : []),
    "COMMIT",
  ];
}

/** The grant that takes PUBLIC's default `CONNECT` and `TEMPORARY` on a database away. */
export function revokePublicSql(database: string): string {
  return `REVOKE ALL PRIVILEGES ON DATABASE ${quoteIdentifier(database)} FROM "public"`;
}

/** `postgresql.Role` update of its password (resource_postgresql_role.go, setRolePassword). */
export function alterRolePasswordSql(name: string, password: string): string {
  return `ALTER ROLE ${quoteIdentifier(name)} WITH ENCRYPTED PASSWORD '${pqQuoteLiteral(password)}'`;
}
