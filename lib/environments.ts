/**
 * The environments a stack can be. Config validates the name; components read it to decide what
 * production protects and what dev publishes.
 */
export const ENVIRONMENTS = ["dev", "staging", "production"] as const;
export type Environment = (typeof ENVIRONMENTS)[number];
