import { describe, expect, it } from "vitest";
import { exceptionsPayload, optionsOf, optionsPatch, parseCaps, reasonError, sameList, splitExceptions, validateExceptions } from "./appOptions";

describe("app options", () => {
  it("reads missing options as off", () => {
    expect(optionsOf({ name: "blog" })).toEqual({ auto_rollback: false, backup_volumes: false });
    expect(optionsOf({ name: "blog", auto_rollback: true, backup_volumes: true })).toEqual({ auto_rollback: true, backup_volumes: true });
  });

  it("sends only what changed, and nothing when nothing did", () => {
    const current = { auto_rollback: true, backup_volumes: false };
    expect(optionsPatch(current, current)).toBeNull();
    expect(optionsPatch(current, { auto_rollback: false, backup_volumes: false })).toEqual({ auto_rollback: false });
    expect(optionsPatch(current, { auto_rollback: true, backup_volumes: true })).toEqual({ backup_volumes: true });
    expect(optionsPatch(current, { auto_rollback: false, backup_volumes: true })).toEqual({ auto_rollback: false, backup_volumes: true });
  });
});

describe("policy exceptions", () => {
  it("spells capabilities as the server does", () => {
    expect(parseCaps("net_admin, CAP_SYS_TIME  cap_add:bpf,,")).toEqual(["cap_add:NET_ADMIN", "cap_add:SYS_TIME", "cap_add:BPF"]);
    expect(parseCaps("  ")).toEqual([]);
  });

  it("sends a sorted list without repeats", () => {
    expect(exceptionsPayload(["privileged", "devices"], "NET_ADMIN, net_admin")).toEqual(["cap_add:NET_ADMIN", "devices", "privileged"]);
  });

  it("refuses names the policy does not know, naming them", () => {
    expect(validateExceptions(["privileged", "network_mode:host", "cap_add:SYS_ADMIN", "host_path"])).toBeNull();
    expect(validateExceptions(["cap_add:CHOWN"])).toMatch(/Unknown exception cap_add:CHOWN\./);
    expect(validateExceptions(["root", "cap_add:<CAP>"])).toMatch(/Unknown exceptions root, cap_add:<CAP>/);
  });

  it("splits stored exceptions into checkboxes and the capability field, and back", () => {
    const stored = ["cap_add:NET_ADMIN", "cap_add:SYS_TIME", "privileged"];
    const { rules, caps } = splitExceptions(stored);
    expect(rules).toEqual(["privileged"]);
    expect(caps).toBe("NET_ADMIN, SYS_TIME");
    expect(sameList(exceptionsPayload(rules, caps), stored)).toBe(true);
    expect(sameList(["a"], ["a", "b"])).toBe(false);
  });

  it("needs a reason to allow anything, none to clear", () => {
    expect(reasonError(["privileged"], " ")).toMatch(/Say why/);
    expect(reasonError(["privileged"], "needs kvm")).toBeNull();
    expect(reasonError([], "")).toBeNull();
  });
});
