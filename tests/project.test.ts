import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import * as YAML from "yaml";
import { CONFIG_KEYS } from "../stacks/config";
import { COMMITTED_STACKS, PROJECT_ROOT, stackFileConfig } from "./harness";

interface Declaration {
  type?: string;
  default?: unknown;
}

const project = YAML.parse(fs.readFileSync(path.join(PROJECT_ROOT, "Pulumi.yaml"), "utf8")) as {
  name: string;
  config: Record<string, Declaration>;
};

test("the project is named platform, and declares only keys the program reads", () => {
  assert.equal(project.name, "platform");
  for (const key of Object.keys(project.config)) {
    assert.ok((CONFIG_KEYS as string[]).includes(key), `Pulumi.yaml declares unknown key ${key}`);
  }
});

test("every key Pulumi.yaml declares without a default is set by every committed stack", () => {
  // Pulumi refuses to run a stack that lacks a declared key with no default.
  for (const [key, declaration] of Object.entries(project.config)) {
    if (declaration.default !== undefined) continue;
    for (const stack of COMMITTED_STACKS) {
      const { config } = stackFileConfig(path.join(PROJECT_ROOT, `Pulumi.${stack}.yaml`));
      assert.ok(`platform:${key}` in config, `Pulumi.${stack}.yaml must set platform:${key}`);
    }
  }
});

test("the committed dev stack holds no passphrase salt: up:dev generates each developer's own", () => {
  // The passphrase secrets manager writes `encryptionsalt` into the stack file when up:dev first
  // creates the stack; committed, it would bind every clone to one developer's passphrase.
  const dev = fs.readFileSync(path.join(PROJECT_ROOT, "Pulumi.dev.yaml"), "utf8");
  assert.doesNotMatch(dev, /^encryptionsalt:/m);
});

test("the LICENSE file is the license package.json declares", () => {
  const { license } = JSON.parse(
    fs.readFileSync(path.join(PROJECT_ROOT, "package.json"), "utf8"),
  ) as {
    license: string;
  };
  const text = fs.readFileSync(path.join(PROJECT_ROOT, "LICENSE"), "utf8");
  assert.equal(license, "Apache-2.0");
  assert.match(text, /^\s*Apache License\s+Version 2\.0, January 2004/);
  assert.match(text, /END OF TERMS AND CONDITIONS\s*$/);
});
