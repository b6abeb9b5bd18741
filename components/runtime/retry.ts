/** A shell loop for a job that waits for something to become true, as busybox `sh` runs it. */

/** What a waiting job checks, and what it says either way. */
export interface Retry {
  /** A shell condition: a command list whose exit status says whether the wait is over. */
  condition: string;
  /** Printed, and exit 0, once the condition holds. */
  success: string;
  /** Printed to stderr, and exit 1, when it never did; may expand shell variables the condition set. */
  failure: string;
  attempts: number;
  intervalSeconds: number;
}

/** Tries `condition` up to `attempts` times, `intervalSeconds` apart. */
export function retryScript({ condition, success, failure, attempts, intervalSeconds }: Retry) {
  return [
    "i=0",
    `while [ "$i" -lt ${attempts} ]; do`,
    `  if ${condition}; then echo "${success}"; exit 0; fi`,
    "  i=$((i + 1))",
    `  sleep ${intervalSeconds}`,
    "done",
    `echo "${failure}" >&2`,
    "exit 1",
    "",
  ].join("\n");
}
