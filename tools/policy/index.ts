/**
 * The CrossGuard pack that `pulumi preview` and `pulumi up` run with `--policy-pack tools/policy`. The
 * rules themselves are pure (rules.ts); the offline plan runs the same rules (tools/plan).
 */
import { PolicyPack, StackValidationPolicy } from "@pulumi/policy";
import { fromPolicyResource } from "./adapter";
import { RULES, uncheckedInPreview } from "./rules";

new PolicyPack("platform", {
  description: "Safety rules of the self-hosted Dittofeed platform (see tools/policy/rules.ts).",
  policies: [
    ...RULES.map((rule): StackValidationPolicy => ({
      name: rule.name,
      description: rule.description,
      enforcementLevel: rule.enforcementLevel,
      validateStack: (args, reportViolation) => {
        for (const v of rule.check(args.resources.map(fromPolicyResource))) {
          reportViolation(v.message, v.urn);
        }
      },
    })),
    {
      name: "checked-once-known",
      description:
        "Lists, per resource, what a rule could not check in this preview because its value is known only once the update runs.",
      enforcementLevel: "advisory",
      validateStack: (args, reportViolation) => {
        const resources = args.resources.map(fromPolicyResource);
        for (const rule of RULES) {
          for (const v of uncheckedInPreview(rule, resources)) reportViolation(v.message, v.urn);
        }
      },
    },
  ],
});
