/**
 * The CrossGuard pack that `pulumi preview` and `pulumi up` run with `--policy-pack policy`. The
 * rules themselves are pure (rules.ts); the offline plan runs the same rules (tools/plan).
 */
import { PolicyPack, PolicyResource } from "@pulumi/policy";
import { CheckedResource, RULES } from "./rules";

/** What `pulumi preview` shows a policy: inputs with secrets unwrapped, and no retainOnDelete. */
function fromPolicyResource(r: PolicyResource): CheckedResource {
  return {
    type: r.type,
    name: r.name,
    urn: r.urn,
    props: r.props,
    opts: { protect: r.opts.protect, additionalSecretOutputs: r.opts.additionalSecretOutputs },
  };
}

new PolicyPack("platform", {
  description: "Safety rules of the self-hosted Dittofeed platform (see policy/rules.ts).",
  policies: RULES.map((rule) => ({
    name: rule.name,
    description: rule.description,
    enforcementLevel: rule.enforcementLevel,
    validateStack: (args, reportViolation) => {
      for (const v of rule.check(args.resources.map(fromPolicyResource))) {
        reportViolation(v.message, v.urn);
      }
    },
  })),
});
