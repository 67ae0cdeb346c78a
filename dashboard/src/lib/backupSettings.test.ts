import { describe, expect, it } from "vitest";
import { parseRetention } from "@/lib/backupSettings";

describe("parseRetention", () => {
  it("accepts whole numbers from 0 to 1000", () => {
    expect(parseRetention("0")).toEqual({ value: 0, error: null });
    expect(parseRetention(" 14 ")).toEqual({ value: 14, error: null });
    expect(parseRetention("1000")).toEqual({ value: 1000, error: null });
  });

  it("refuses an empty field instead of reading it as 0 (keep all)", () => {
    expect(parseRetention("")).toEqual({ value: null, error: "Enter how many backups to keep (0 keeps them all)." });
    expect(parseRetention("   ").value).toBeNull();
  });

  it("refuses what the server would", () => {
    for (const bad of ["-1", "1.5", "1e3", "1001", "ten"]) {
      expect(parseRetention(bad).error).toBe("A whole number from 0 (keep all) to 1000.");
    }
  });
});
