/** An app's options (`PATCH …/options`) and compose policy exceptions (`PUT …/policy`, admin):
 * what the form may send, checked as the deployer checks it (services/deployer/policy.py). */
import type { App } from "@/api/client";

export interface AppOptions {
  auto_rollback: boolean;
  backup_volumes: boolean;
}

export function optionsOf(app: App): AppOptions {
  return { auto_rollback: Boolean(app.auto_rollback), backup_volumes: Boolean(app.backup_volumes) };
}

/** Only what changed (the PATCH leaves the other options alone); null when nothing did. */
export function optionsPatch(current: AppOptions, wanted: AppOptions): Partial<AppOptions> | null {
  const patch: Partial<AppOptions> = {};
  if (current.auto_rollback !== wanted.auto_rollback) patch.auto_rollback = wanted.auto_rollback;
  if (current.backup_volumes !== wanted.backup_volumes) patch.backup_volumes = wanted.backup_volumes;
  return Object.keys(patch).length ? patch : null;
}

/** The policy's named rules an admin may allow for one app, with what each lets the compose file do. */
export const POLICY_RULES: { name: string; what: string }[] = [
  { name: "privileged", what: "privileged containers" },
  { name: "network_mode:host", what: "the host's network" },
  { name: "pid:host", what: "the host's process namespace" },
  { name: "ipc:host", what: "the host's IPC namespace" },
  { name: "userns_mode:host", what: "the host's user namespace" },
  { name: "uts:host", what: "the host's UTS namespace" },
  { name: "cgroup:host", what: "the host's cgroup namespace" },
  { name: "devices", what: "host devices" },
  { name: "docker_socket", what: "the Docker socket (full control of the host)" },
  { name: "host_path", what: "host paths outside the app's folder" },
  { name: "security_opt", what: "security_opt that turns confinement off" },
];

/** Capabilities the policy refuses unless allowed one by one as `cap_add:<CAP>`. */
export const DANGEROUS_CAPS = [
  "ALL", "SYS_ADMIN", "SYS_MODULE", "SYS_RAWIO", "SYS_PTRACE", "SYS_BOOT", "SYS_TIME", "NET_ADMIN",
  "DAC_READ_SEARCH", "MAC_ADMIN", "MAC_OVERRIDE", "BPF", "PERFMON", "SYSLOG", "SYS_RESOURCE",
  "LINUX_IMMUTABLE", "AUDIT_CONTROL", "WAKE_ALARM", "BLOCK_SUSPEND",
];

const RULE_NAMES = new Set(POLICY_RULES.map((r) => r.name));

/** `NET_ADMIN, sys_time` → ["cap_add:NET_ADMIN", "cap_add:SYS_TIME"] (the server's spelling). */
export function parseCaps(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((c) => c.trim().toUpperCase().replace(/^CAP_ADD:/, "").replace(/^CAP_/, ""))
    .filter(Boolean)
    .map((c) => `cap_add:${c}`);
}

/** The exceptions a form sends: sorted, without repeats. */
export function exceptionsPayload(rules: string[], capsText: string): string[] {
  return [...new Set([...rules, ...parseCaps(capsText)])].sort();
}

/** What the server would refuse, as one message; null when every name is known. */
export function validateExceptions(names: string[]): string | null {
  const unknown: string[] = [];
  for (const name of names) {
    if (name.startsWith("cap_add:")) {
      if (!DANGEROUS_CAPS.includes(name.slice("cap_add:".length))) unknown.push(name);
    } else if (!RULE_NAMES.has(name)) unknown.push(name);
  }
  if (!unknown.length) return null;
  return `Unknown exception${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")}. Capabilities that need one: ${DANGEROUS_CAPS.join(", ")}.`;
}

/** Splits an app's current exceptions into the rule checkboxes and the capability text field. */
export function splitExceptions(names: string[]): { rules: string[]; caps: string } {
  return {
    rules: names.filter((n) => !n.startsWith("cap_add:")),
    caps: names
      .filter((n) => n.startsWith("cap_add:"))
      .map((n) => n.slice("cap_add:".length))
      .join(", "),
  };
}

export function sameList(a: string[], b: string[]): boolean {
  const x = [...a].sort();
  const y = [...b].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** The server refuses exceptions without a reason (they are audited); clearing them needs none. */
export function reasonError(exceptions: string[], reason: string): string | null {
  return exceptions.length && !reason.trim() ? "Say why: allowing exceptions is audited." : null;
}
