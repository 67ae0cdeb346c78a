import { describe, expect, it } from "vitest";
import { ApiError } from "@/api/errors";
import { NO_EXCEPTIONS } from "./appOptions";
import { fieldOfServerError, initialComposeValues, liveCheckOf } from "./composeApp";
import { outcomeOfError, parsePolicyRefusal, servicesLabel } from "./composeCheck";

const ADVICE = ". An admin can allow a rule for this app (docs/architecture.md lists them).";

describe("a policy refusal, item by item", () => {
  it("splits the refusals and keeps each rule", () => {
    const message =
      "compose policy: service web: privileged is not allowed (rule privileged); service web: cap_add SYS_ADMIN is not allowed (rule cap_add:SYS_ADMIN); " +
      "service web volume /srv/media: /srv/media is outside the app's folder (rule host_path:/srv/media)" +
      ADVICE;
    expect(parsePolicyRefusal(message)).toEqual([
      { text: "service web: privileged is not allowed", rule: "privileged" },
      { text: "service web: cap_add SYS_ADMIN is not allowed", rule: "cap_add:SYS_ADMIN" },
      { text: "service web volume /srv/media: /srv/media is outside the app's folder", rule: "host_path:/srv/media" },
    ]);
  });

  it("keeps a ';' inside one refusal, and marks what no exception lifts", () => {
    const message =
      "compose policy: service web volume .: mounts the app's own folder; mount a folder inside it (never allowed); " +
      "service web volume /DATA/AppData/x/db: /DATA/AppData/x/db is outside the app's folder; keep the app's files in its own folder: use ./db (rule host_path:/DATA/AppData/x/db)" +
      ADVICE;
    expect(parsePolicyRefusal(message)).toEqual([
      { text: "service web volume .: mounts the app's own folder; mount a folder inside it", rule: "" },
      {
        text: "service web volume /DATA/AppData/x/db: /DATA/AppData/x/db is outside the app's folder; keep the app's files in its own folder: use ./db",
        rule: "host_path:/DATA/AppData/x/db",
      },
    ]);
  });

  it("loses nothing it cannot follow, and leaves other messages alone", () => {
    expect(parsePolicyRefusal("compose policy: something new")).toEqual([{ text: "something new", rule: "" }]);
    expect(parsePolicyRefusal("compose policy: a (rule b); trailing words")).toEqual([
      { text: "a", rule: "b" },
      { text: "trailing words", rule: "" },
    ]);
    expect(parsePolicyRefusal("compose file is not valid YAML: …")).toBeNull();
  });

  it("tells a refusal from a failure to check", () => {
    expect(outcomeOfError(new ApiError(400, "invalid_argument", "compose policy: x (rule devices)" + ADVICE))).toEqual({
      kind: "policy",
      items: [{ text: "x", rule: "devices" }],
    });
    expect(outcomeOfError(new ApiError(400, "invalid_argument", "compose file is empty"))).toEqual({ kind: "invalid", message: "compose file is empty" });
    expect(outcomeOfError(new ApiError(503, "unavailable", "deployer is down"))).toEqual({ kind: "unchecked", message: "deployer is down" });
    expect(servicesLabel(["web"])).toBe("1 service");
    expect(servicesLabel(["web", "db"])).toBe("2 services");
  });
});

describe("what the new-app form checks as you type", () => {
  it("waits for a name and a file, and sends an admin's exceptions only when they are valid", () => {
    const values = initialComposeValues();
    expect(liveCheckOf(values, false)).toMatchObject({ input: null, waiting: expect.stringMatching(/Name the app/) });
    expect(liveCheckOf({ ...values, name: "Bad Name" }, false).input).toBeNull();
    expect(liveCheckOf({ ...values, name: "blog", compose: " " }, false).waiting).toMatch(/compose file/);
    expect(liveCheckOf({ ...values, name: "blog", env: "A=1\n" }, false).input).toEqual({ name: "blog", compose: values.compose, env: "A=1\n", allow: [] });
    const exceptions = { ...NO_EXCEPTIONS, rules: ["privileged"], paths: "/srv/media" };
    expect(liveCheckOf({ ...values, name: "blog", exceptions }, false).input?.allow).toEqual([]); // an operator's are never sent
    expect(liveCheckOf({ ...values, name: "blog", exceptions }, true).input?.allow).toEqual(["host_path:/srv/media", "privileged"]);
    expect(liveCheckOf({ ...values, name: "blog", exceptions: { ...exceptions, paths: "srv" } }, true)).toMatchObject({ input: null, waiting: expect.stringMatching(/exceptions/) });
  });
});

describe("which field a server refusal belongs to", () => {
  it("puts a refusal of the file on the file, even when it says how an admin could allow it", () => {
    const refusal = "compose policy: service main: volume /etc:/x: /etc is outside the app's folder (rule host_path:/etc). An admin can allow a rule for this app on its Options page (policy exceptions), or change the file.";
    expect(fieldOfServerError(new ApiError(400, "invalid_argument", refusal))).toBe("compose");
    expect(fieldOfServerError(new ApiError(400, "invalid_argument", "policy exception 'x' is not a rule"))).toBe("allow");
    expect(fieldOfServerError(new ApiError(409, "already_exists", "app 'blog' already exists"))).toBe("name");
  });
});
