/**
 * What CrossGuard hands a policy, as the pure rules read it. In `pulumi preview` a resource's
 * properties come wrapped in a proxy that throws `UnknownValueError` on any value not known yet
 * (@pulumi/policy, proxy.js); one such value anywhere would turn a whole stack rule into an
 * advisory "can't run during preview". Each property is read once here, and an unknown one
 * becomes `UNKNOWN`, which the rules check around.
 */
import * as policySdk from "@pulumi/policy";
import { PolicyResource } from "@pulumi/policy";
import { CheckedResource, UNKNOWN } from "./rules";

/**
 * The policy SDK's own proxy and error (@pulumi/policy 1.21.0 exports both from index.js; its
 * proxy.d.ts is stripped of their types).
 */
export const { UnknownValueError, unknownCheckingProxy } = policySdk as unknown as {
  UnknownValueError: new (...args: never[]) => Error;
  unknownCheckingProxy: (props: Record<string, unknown>) => Record<string, unknown>;
};

/** A deep copy of `value` read through the policy SDK's proxy, unknowns replaced by `UNKNOWN`. */
export function knownCopy(value: unknown): unknown {
  if (value === null || typeof value !== "object") return value;
  const source = value as Record<string, unknown>;
  const copy: Record<string, unknown> | unknown[] = Array.isArray(value) ? [] : {};
  for (const key of Object.keys(source)) {
    let field: unknown;
    try {
      field = source[key];
    } catch (error) {
      if (!(error instanceof UnknownValueError)) throw error;
      field = UNKNOWN;
    }
    (copy as Record<string, unknown>)[key] = isUnknownMarker(field) ? field : knownCopy(field);
  }
  return copy;
}

const isUnknownMarker = (value: unknown) => value === UNKNOWN;

/** What `pulumi preview` shows a policy: inputs with secrets unwrapped, and no retainOnDelete. */
export function fromPolicyResource(r: PolicyResource): CheckedResource {
  return {
    type: r.type,
    name: r.name,
    urn: r.urn,
    props: knownCopy(r.props) as Record<string, unknown>,
    opts: {
      protect: r.opts.protect,
      additionalSecretOutputs: r.opts.additionalSecretOutputs,
      createTimeoutSeconds: r.opts.customTimeouts.createSeconds,
    },
  };
}
