/**
 * The environments a stack can be. Config validates the name; components read it to decide what
 * production protects and what dev publishes.
 */
export const ENVIRONMENTS = ["dev", "staging", "production"] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

/** The words of a stack name that say which environment it is, and the environment each says. */
export const STACK_NAME_WORDS: Readonly<Record<string, Environment>> = {
  dev: "dev",
  development: "dev",
  local: "dev",
  preprod: "staging",
  stage: "staging",
  staging: "staging",
  stg: "staging",
  uat: "staging",
  prd: "production",
  prod: "production",
  production: "production",
};

/**
 * The environments a stack's name says it is: those of its words (split at `-`, `_` and `.`,
 * case and trailing digits aside) found in {@link STACK_NAME_WORDS}. `production-a`,
 * `acme-production` and `prod2` say production, `eu-1` says nothing. Production's protection must not hang on one free-text config
 * field that a copy-paste can change, so a name that says an environment binds it.
 */
export function environmentsNamedBy(stack: string): Environment[] {
  const named = stack
    .toLowerCase()
    .split(/[-_.]/)
    .map((word) => word.replace(/\d+$/, ""))
    .flatMap((word) => (Object.hasOwn(STACK_NAME_WORDS, word) ? [STACK_NAME_WORDS[word]] : []));
  return [...new Set(named)];
}

/** Why `environment` may not be the environment of stack `stack`, or undefined when it may. */
export function stackEnvironmentProblem(stack: string, environment: string): string | undefined {
  const named = environmentsNamedBy(stack);
  if (named.length > 1) {
    return `cannot be decided: the stack's name ${JSON.stringify(stack)} says ${named.join(" and ")}; name a stack after one environment`;
  }
  if (named.length === 1 && named[0] !== environment) {
    return `must be ${named[0]}: the stack's name ${JSON.stringify(stack)} says so, and what protects production's data must not hang on this one line (a copy from another stack's file?)`;
  }
  return undefined;
}
