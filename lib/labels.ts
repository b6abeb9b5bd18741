/**
 * The label keys every container, volume and network carries: what it belongs to. The program
 * writes them and the policy pack reads them, so both take them from here.
 */
export const LABELS = {
  environment: "platform.environment",
  service: "platform.service",
  tenant: "platform.tenant",
  /** On the stack's network only: the host's size, for the policy pack's memory rule. */
  hostMemoryMb: "platform.host-memory-mb",
} as const;
