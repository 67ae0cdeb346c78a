/** Image updates in words: grouping, the badge an app gets, what an update changes, update all. */
import { describe, expect, it } from "vitest";
import { ApiError } from "@/api/errors";
import {
  appBadge,
  groupByApp,
  hasDefaultUpdate,
  kindWords,
  lastChecked,
  plannedChanges,
  shortDigest,
  splitRows,
  stillCurrent,
  summaryWords,
  templateWords,
  updateAll,
  updateBody,
  type ImageUpdate,
} from "@/lib/updates";

const row = (app: string, service: string, kind: string, extra: Partial<ImageUpdate> = {}): ImageUpdate => ({
  app,
  service,
  kind,
  image: `127.0.0.1:5000/${service}:1.0.0`,
  current_tag: "1.0.0",
  current_digest: "sha256:aaaaaaaaaaaaaaaaaaaaaaaa",
  candidate_tag: { digest: "1.0.0", patch: "1.0.1", minor: "1.1.0", major: "2.0.0" }[kind] ?? "",
  candidate_digest: kind === "unknown" ? "" : "sha256:bbbbbbbbbbbbbbbbbbbb",
  checked_at: "2026-12-03T06:00:00Z",
  ...extra,
});

describe("groupByApp", () => {
  it("groups by app, apps by name, each app's rows by service then kind", () => {
    const groups = groupByApp([row("wiki", "web", "major"), row("blog", "web", "minor"), row("wiki", "db", "unknown"), row("wiki", "web", "patch", { checked_at: "2026-12-03T07:00:00Z" })]);
    expect(groups.map((g) => g.app)).toEqual(["blog", "wiki"]);
    expect(groups[1].rows.map((r) => `${r.service}:${r.kind}`)).toEqual(["db:unknown", "web:patch", "web:major"]);
    expect(groups[1].checkedAt).toBe("2026-12-03T07:00:00Z");
    expect(lastChecked(groups.flatMap((g) => g.rows))).toBe("2026-12-03T07:00:00Z");
    expect(lastChecked([])).toBe("");
  });
});

describe("appBadge", () => {
  it("says major before update, and nothing for unknown rows or other apps", () => {
    const rows = [row("a", "web", "patch"), row("a", "web", "major"), row("b", "web", "digest"), row("c", "web", "unknown")];
    expect(appBadge(rows, "a")).toBe("major");
    expect(appBadge(rows, "b")).toBe("update");
    expect(appBadge(rows, "c")).toBeNull();
    expect(appBadge(rows, "d")).toBeNull();
  });
});

describe("plannedChanges", () => {
  const rows = [row("a", "web", "patch"), row("a", "web", "minor"), row("a", "web", "major"), row("a", "db", "digest"), row("a", "cache", "unknown")];
  it("takes each service's newest non-major candidate by default", () => {
    expect(plannedChanges(rows, false)).toEqual([
      { service: "db", image: "127.0.0.1:5000/db:1.0.0", from: "1.0.0", to: "1.0.0 (bbbbbbbbbbbb)", kind: "digest" },
      { service: "web", image: "127.0.0.1:5000/web:1.0.0", from: "1.0.0", to: "1.1.0", kind: "minor" },
    ]);
    expect(updateBody(rows, false)).toEqual({});
  });
  it("takes the major only when it is allowed, and names it in the body", () => {
    expect(plannedChanges(rows, true).find((c) => c.service === "web")?.to).toBe("2.0.0");
    expect(updateBody(rows, true)).toEqual({ allow_major: true });
  });
});

describe("words", () => {
  it("marks a major as one that may need changes", () => {
    expect(kindWords("major")).toBe("major — may need changes, read the release notes");
    expect(kindWords("digest")).toBe("same tag, new image");
    expect(shortDigest("sha256:0123456789abcdef")).toBe("0123456789ab");
    expect(shortDigest(undefined)).toBe("");
  });
});

describe("updateAll", () => {
  it("requests every app on its own: one failure never stops the others, the summary names it and why", async () => {
    const asked: string[] = [];
    const outcomes = await updateAll(["alpha", "blog", "wiki"], async (app) => {
      asked.push(app);
      if (app === "blog") throw new ApiError(409, "conflict", "blog has nothing to update");
      return { id: `d-${app}`, app, action: "update", status: "pending" };
    });
    expect(asked).toEqual(["alpha", "blog", "wiki"]);
    expect(outcomes.map((o) => [o.app, o.deployment?.id, o.error])).toEqual([
      ["alpha", "d-alpha", undefined],
      ["blog", undefined, "blog has nothing to update"],
      ["wiki", "d-wiki", undefined],
    ]);
    expect(summaryWords(outcomes)).toBe("2 of 3 apps updated or updating. Failed: blog (blog has nothing to update).");
    expect(summaryWords(outcomes.filter((o) => !o.error))).toBe("2 of 2 apps updated or updating.");
  });
});

describe("stillCurrent", () => {
  it("leaves out the rows of an image the app no longer runs (updated since the check), until the next check", () => {
    const rows = [row("a", "web", "patch"), row("a", "web", "major"), row("a", "db", "digest"), row("b", "web", "minor"), row("c", "web", "minor")];
    const updated = { name: "a", last_deployment: { status: "succeeded", images: [{ service: "web", image: "127.0.0.1:5000/web:1.0.1" }, { service: "db", image: "127.0.0.1:5000/db:1.0.0" }] } };
    const failed = { name: "b", last_deployment: { status: "failed", images: [] } };
    expect(stillCurrent(rows, [updated, failed]).map((r) => `${r.app}:${r.service}:${r.kind}`)).toEqual(["a:db:digest", "b:web:minor", "c:web:minor"]);
    expect(appBadge(rows, updated)).toBe("update"); // the db's digest is still news; web's patch and major are not
    expect(appBadge(rows, "a")).toBe("major");
  });
});

describe("template rows", () => {
  // as GET /api/v1/updates gives them: no service, no tags; image names the store template
  const template = (app: string, extra: Partial<ImageUpdate> = {}): ImageUpdate => ({
    app,
    service: "",
    kind: "template",
    image: "casa/hello",
    reason: "the store's template casa/hello changed; redeploying with it is your choice",
    diff: "--- a/hello/compose.yaml\n+++ b/hello/compose.yaml\n@@ -1 +1 @@\n-echo one\n+echo two\n",
    checked_at: "2026-12-03T09:00:00Z",
    ...extra,
  });

  it("come first in their app's group and apart from the images' rows", () => {
    const groups = groupByApp([row("casa1", "web", "patch"), template("casa1"), template("other")]);
    expect(groups.map((g) => [g.app, g.rows.map((r) => r.kind)])).toEqual([
      ["casa1", ["template", "patch"]],
      ["other", ["template"]],
    ]);
    const { images, templates } = splitRows(groups[0].rows);
    expect(images.map((r) => r.kind)).toEqual(["patch"]);
    expect(templates.map((r) => r.image)).toEqual(["casa/hello"]);
  });

  it("are never something Update or Update all changes", () => {
    expect(hasDefaultUpdate([template("a")])).toBe(false);
    expect(plannedChanges([template("a")], true)).toEqual([]);
    expect(plannedChanges([template("a"), row("a", "web", "minor")], false).map((c) => c.service)).toEqual(["web"]);
  });

  it("give a badge of their own, after the images' updates", () => {
    expect(appBadge([template("a")], "a")).toBe("template");
    expect(appBadge([template("a"), row("a", "web", "patch")], "a")).toBe("update");
    expect(appBadge([template("a"), row("a", "web", "major")], "a")).toBe("major");
    // an app that runs other images since the check still has its template's change
    const app = { name: "a", last_deployment: { status: "succeeded", images: [{ service: "web", image: "127.0.0.1:5000/web:2.0.0" }] } };
    expect(stillCurrent([template("a"), row("a", "web", "patch")], [app]).map((r) => r.kind)).toEqual(["template"]);
    expect(appBadge([template("a"), row("a", "web", "patch")], app)).toBe("template");
  });

  it("say which template changed, and do not count as the last image check", () => {
    expect(templateWords(template("a"))).toBe("The store template casa/hello changed.");
    expect(templateWords(template("a", { image: "" }))).toBe("The store's template casa/hello changed; redeploying with it is your choice.");
    expect(kindWords("template")).toBe("store template changed");
    expect(lastChecked([template("a"), row("b", "web", "patch")])).toBe("2026-12-03T06:00:00Z");
    expect(lastChecked([template("a")])).toBe("");
  });
});
