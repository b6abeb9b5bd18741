/** The config layer's face: what the rest of the program and the tools may use. */
export { ConfigError, ConfigProblem } from "./errors";
export {
  loadPlatformConfig,
  otherStackConfigs,
  parsePlatformConfig,
  rawPlatformConfig,
} from "./load";
export { OtherStack } from "./rules";
export {
  CONFIG_KEYS,
  DEFAULT_DITTOFEED_VERSION,
  Environment,
  ENVIRONMENTS,
  NAMESPACE,
  PlatformConfig,
  TenantConfig,
} from "./schema";
