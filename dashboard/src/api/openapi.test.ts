/**
 * The committed OpenAPI document (and so the generated types) must be the gateway's current one:
 * regenerate with `npm run gen:api` when this fails. Needs the repo's venv (`make install`).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import committedFeatures from "./features.json";

const dashboard = path.resolve(import.meta.dirname, "../..");
const root = path.resolve(dashboard, "..");
const python = process.env.APPOS_PYTHON ?? path.join(root, ".venv/bin/python");

describe("generated API client", () => {
  it("was generated from the gateway's current OpenAPI document", () => {
    expect(existsSync(python), `${python} is missing: run \`make install\` first`).toBe(true);
    const out = path.join(mkdtempSync(path.join(tmpdir(), "appos-openapi-")), "openapi.json");
    execFileSync(python, [path.join(dashboard, "scripts/dump_openapi.py"), out], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
    const fresh = readFileSync(out, "utf8");
    const committed = readFileSync(path.join(dashboard, "src/api/openapi.json"), "utf8");
    expect(fresh === committed, "src/api/openapi.json is out of date: run `npm run gen:api` in dashboard/").toBe(true);
    const paths = JSON.parse(fresh).paths as Record<string, unknown>;
    expect(committedFeatures).toEqual({
      audit: "/api/v1/audit" in paths,
      backups: "/api/v1/backups" in paths,
      stats: "/api/v1/apps/{app}/stats" in paths,
      notifications: "/api/v1/notifications/targets" in paths,
      appOptions: "/api/v1/apps/{app}/options" in paths,
      policy: "/api/v1/apps/{app}/policy" in paths,
    });
  }, 60_000);
});
