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
  /** On a release gate's job: what it gates, as JSON (see `GateLabel`). */
  releaseGate: "platform.release-gate",
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

/** What a release gate's job says of itself in its {@link LABELS.releaseGate} label. */
export interface GateLabel {
  /** The wave it lets go. */
  wave: number;
  /** The wave it watches, and that wave's tenants. */
  after: number;
  watch: string[];
  soakMinutes: number;
}
