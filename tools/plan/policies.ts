/** The policy pack's rules run on recorded registrations, where retention and secrecy are known too. */
import { isSecret, unwrapSecrets } from "../engine/mocks";
import { Registration } from "../engine/runner";
import { CheckedResource, Rule, RULES, Violation } from "../policy/rules";

/** A registration as the rules see it, with what only the program knows: retention, secrecy. */
export function fromRegistration(r: Registration): CheckedResource {
  const props: Record<string, unknown> = {};
  const secretInputs: string[] = [];
  for (const [key, value] of Object.entries(r.inputs)) {
    if (isSecret(value)) secretInputs.push(key);
    props[key] = unwrapSecrets(value);
  }
  return {
    type: r.type,
    name: r.name,
    urn: r.urn,
    props,
    opts: {
      protect: r.protect,
      retainOnDelete: r.retainOnDelete,
      additionalSecretOutputs: r.additionalSecretOutputs,
      createTimeoutSeconds: minutes(r.customTimeouts.create) * 60,
    },
    secretInputs,
  };
}

/** `240m`, as this program writes a timeout, in minutes; 0 when unset. */
const minutes = (timeout: string | undefined) => Number(/^(\d+)m$/.exec(timeout ?? "")?.[1] ?? 0);

export interface RuleResult {
  rule: Rule;
  violations: Violation[];
}

/** Every rule against one run of the program. */
export function checkPolicies(registrations: readonly Registration[]): RuleResult[] {
  // Components too: the Host component carries the stack's facts in its inputs.
  const resources = registrations.map(fromRegistration);
  return RULES.map((rule) => ({ rule, violations: rule.check(resources) }));
}

export function mandatoryViolations(results: readonly RuleResult[]): number {
  return results
    .filter((r) => r.rule.enforcementLevel === "mandatory")
    .reduce((n, r) => n + r.violations.length, 0);
}

export function renderPolicyMarkdown(results: readonly RuleResult[]): string {
  const lines = ["| policy | level | result |", "| --- | --- | --- |"];
  for (const { rule, violations } of results) {
    const result =
      violations.length === 0
        ? "pass"
        : `**${violations.length} violation${violations.length === 1 ? "" : "s"}**: ${violations.map((v) => v.message).join("; ")}`;
    lines.push(`| \`${rule.name}\` | ${rule.enforcementLevel} | ${result} |`);
  }
  return `${lines.join("\n")}\n`;
}
