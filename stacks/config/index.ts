/** The config layer's face: what the rest of the program and the tools may use. */
export { ConfigError, configError } from "./errors";
export { loadPlatformConfig, parsePlatformConfig, rawPlatformConfig } from "./load";
export { CONFIG_KEYS, DEFAULT_DITTOFEED_VERSION, PlatformConfig, TenantConfig } from "./schema";
