import { describe, expect, it } from "vitest";
import {
  exceptionsPayload,
  NAMED_RULES,
  NO_EXCEPTIONS,
  optionsOf,
  optionsPatch,
  parseCaps,
  parseKeys,
  parsePaths,
  POLICY_RULES,
  reasonError,
  sameList,
  splitExceptions,
  validateExceptions,
  type ExceptionFields,
} from "./appOptions";

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
  const fields = (given: Partial<ExceptionFields>): ExceptionFields => ({ ...NO_EXCEPTIONS, ...given });

  it("lists the server's rules, the named ones apart", () => {
    const names = POLICY_RULES.map((r) => r.name);
    expect(names).toContain("container");
    expect(names).toContain("logging_driver");
    expect(names).not.toContain("host_path"); // it names a path: its own field
    expect(names.every((n) => !n.includes("<"))).toBe(true);
    expect(NAMED_RULES.paths.rule).toBe("host_path:<path>");
  });

  it("spells capabilities, host paths and keys as the server does", () => {
    expect(parseCaps("net_admin, CAP_SYS_TIME  cap_add:bpf,,")).toEqual(["cap_add:NET_ADMIN", "cap_add:SYS_TIME", "cap_add:BPF"]);
    expect(parseCaps("  ")).toEqual([]);
    expect(parsePaths("/srv/media/, host_path:/mnt/My Media ,, /")).toEqual(["host_path:/srv/media", "host_path:/mnt/My Media", "host_path:/"]);
    expect(parseKeys("x-thing key:bind.propagation")).toEqual(["key:x-thing", "key:bind.propagation"]);
  });

  it("sends a sorted list without repeats", () => {
    expect(exceptionsPayload(fields({ rules: ["privileged", "devices"], caps: "NET_ADMIN, net_admin", paths: "/srv/media, /srv/media/" }))).toEqual([
      "cap_add:NET_ADMIN",
      "devices",
      "host_path:/srv/media",
      "privileged",
    ]);
  });

  it("refuses what the server would refuse, saying why", () => {
    expect(validateExceptions(["privileged", "container", "cap_add:SYS_ADMIN", "cap_add:CHOWN", "host_path:/srv/media", "host_path:/", "key:gpus"])).toBeNull();
    expect(validateExceptions(["host_path"])).toMatch(/host_path must name the path it allows/);
    expect(validateExceptions(["host_path:srv/media"])).toMatch(/srv\/media is not an absolute, normalized path/);
    expect(validateExceptions(["host_path:/srv/../etc"])).toMatch(/not an absolute, normalized path/);
    expect(validateExceptions(["host_path:/srv//x"])).toMatch(/not an absolute, normalized path/);
    expect(validateExceptions(["cap_add:X"])).toMatch(/X is not a capability name/);
    expect(validateExceptions(["key:Not A Key"])).toMatch(/not a compose key/);
    expect(validateExceptions(["root", "cap_add:<CAP>"])).toMatch(/<CAP> is not a capability name.*Unknown exception root\./);
    expect(validateExceptions(["root", "pid"])).toMatch(/Unknown exceptions root, pid\./);
  });

  it("splits stored exceptions into checkboxes and the named fields, and back", () => {
    const stored = ["cap_add:NET_ADMIN", "cap_add:SYS_TIME", "host_path:/srv/media", "key:x-gpu", "privileged"];
    const split = splitExceptions(stored);
    expect(split).toEqual({ rules: ["privileged"], caps: "NET_ADMIN, SYS_TIME", paths: "/srv/media", keys: "x-gpu" });
    expect(sameList(exceptionsPayload(split), stored)).toBe(true);
    expect(splitExceptions(["host_path"]).rules).toEqual(["host_path"]); // an old plain one: shown, and refused
    expect(sameList(["a"], ["a", "b"])).toBe(false);
  });

  it("needs a reason to allow anything, none to clear", () => {
    expect(reasonError(["privileged"], " ")).toMatch(/Say why/);
    expect(reasonError(["privileged"], "needs kvm")).toBeNull();
    expect(reasonError([], "")).toBeNull();
  });
});
