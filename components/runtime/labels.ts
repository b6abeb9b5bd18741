/**
 * The label keys every container, volume and network carries: what it belongs to. The program
 * writes them and the policy pack reads them, so both take them from here.
 */
export const LABELS = {
  environment: "platform.environment",
  service: "platform.service",
  tenant: "platform.tenant",
  /** On Kubernetes namespaces: the stack, and what the namespace holds (`data`, `edge`, `tenant`). */
  stack: "platform.stack",
  scope: "platform.scope",
  /** On a tenant's bootstrap job only: the Dittofeed release the tenant was installed at. */
  dittofeedVersion: "platform.dittofeed-version",
} as const;

/**
 * The type of the component that carries the stack's facts about its Docker host, which the
 * policy pack reads from its inputs. A component's inputs change in place; a label on the network
 * would replace the network that every container is attached to.
 */
export const HOST_TYPE = "platform:runtime:Host";

/** The inputs of the {@link HOST_TYPE} component. */
export interface HostFacts {
  environment: string;
  /** The host's memory in MB (`platform:hostMemoryMb`), when the operator gave it. */
  memoryMb?: number;
}
