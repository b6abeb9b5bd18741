/** The config layer's face: what the rest of the program and the tools may use. */
export { ConfigError, ConfigProblem } from "./errors";
export {
  loadPlatformConfig,
  otherStackConfigs,
  parsePlatformConfig,
  rawPlatformConfig,
} from "./load";
export { OtherStack } from "./rules";
export { Environment, ENVIRONMENTS } from "../lib/environments";
export {
  CONFIG_KEYS,
  DEFAULT_DITTOFEED_VERSION,
  NAMESPACE,
  PlatformConfig,
  TenantConfig,
} from "./schema";
