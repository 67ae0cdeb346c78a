import { describe, expect, it } from "vitest";
import { FORGET_AFTER_MS, keepGenerated, takeGenerated } from "./oneTime";

describe("generated secrets", () => {
  it("are shown to the deployment page, also when it is mounted again at once", () => {
    keepGenerated("d1", { SECRET: "s3cr3t" });
    expect(takeGenerated("d1", 1_000)).toEqual({ SECRET: "s3cr3t" });
    expect(takeGenerated("d1", 1_500)).toEqual({ SECRET: "s3cr3t" });
  });

  it("are forgotten a while after they were first shown", () => {
    keepGenerated("d2", { SECRET: "x" });
    expect(takeGenerated("d2", 0)).not.toBeNull();
    expect(takeGenerated("d2", FORGET_AFTER_MS + 1)).toBeNull();
    expect(takeGenerated("d2", FORGET_AFTER_MS + 2)).toBeNull();
  });

  it("are nothing for a deployment that generated none", () => {
    keepGenerated("d3", {});
    keepGenerated("d4", undefined);
    expect(takeGenerated("d3")).toBeNull();
    expect(takeGenerated("d4")).toBeNull();
  });
});
