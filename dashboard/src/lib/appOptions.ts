/** An app's options (`PATCH …/options`) and compose policy exceptions (`PUT …/policy`, admin):
 * what the form may send, checked as the deployer checks it (services/deployer/policy/__init__.py). */
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

/** The policy's rules an admin may allow for one app by name alone, with what each lets the compose
 * file do (services/deployer/policy/__init__.py `RULES`; docs/architecture.md lists them too). */
export const POLICY_RULES: { name: string; what: string }[] = [
  { name: "privileged", what: "privileged containers, hooks and builds (full control of the host)" },
  { name: "network_mode:host", what: "the host's network stack" },
  { name: "pid:host", what: "the host's processes" },
  { name: "ipc:host", what: "the host's shared memory" },
  { name: "uts:host", what: "the host's hostname" },
  { name: "userns_mode:host", what: "user namespace settings (host)" },
  { name: "cgroup:host", what: "the host's cgroup namespace" },
  { name: "container", what: "joining or reading containers, volumes or networks outside the app" },
  { name: "devices", what: "host devices (devices, device_cgroup_rules, gpus, device reservations)" },
  { name: "docker_socket", what: "the Docker socket (full control of the host)" },
  { name: "security_opt", what: "security options beyond no-new-privileges and an SELinux level (seccomp, apparmor or SELinux unconfined)" },
  { name: "network_driver", what: "network drivers other than bridge (macvlan, ipvlan, host), bridge options, and subnets outside private ranges or on the host's routes" },
  { name: "volume_driver", what: "volume drivers other than local, and local driver options other than a bind or tmpfs" },
  { name: "cgroup_parent", what: "a cgroup parent of the host's" },
  { name: "runtime", what: "another container runtime" },
  { name: "sysctls", what: "kernel settings outside the container's own namespaces" },
  { name: "oom_kill_disable", what: "exemption from the out-of-memory killer (also a negative oom_score_adj)" },
  { name: "logging_driver", what: "log drivers that send logs off the app (syslog, gelf, fluentd, …)" },
];

/** The rules that name what they allow, each typed into its own field: `cap_add:NET_ADMIN`,
 * `host_path:/srv/media` (that path and below it), `key:<compose key>`. */
export const NAMED_RULES = {
  caps: { rule: "cap_add:<CAP>", what: "one Linux capability beyond Docker's defaults each, e.g. NET_ADMIN" },
  paths: { rule: "host_path:<path>", what: "a host path outside the app's folder, and everything below it, e.g. /srv/media" },
  keys: { rule: "key:<name>", what: "a compose key AppOS does not know, unchecked" },
} as const;

/** What the exception forms edit: the checked rules, and the named ones as typed. */
export interface ExceptionFields {
  rules: string[];
  /** "NET_ADMIN, sys_time" */
  caps: string;
  /** "/srv/media, /mnt/backup" (commas or new lines: a path may hold spaces) */
  paths: string;
  /** "x-foo, bind.propagation" */
  keys: string;
}

export const NO_EXCEPTIONS: ExceptionFields = { rules: [], caps: "", paths: "", keys: "" };

const RULE_NAMES = new Set(POLICY_RULES.map((r) => r.name));
const CAP = /^cap_add:[A-Z0-9_]{2,32}$/;
const KEY = /^key:[a-z0-9_.-]{1,64}$/;

/** `NET_ADMIN, sys_time` → ["cap_add:NET_ADMIN", "cap_add:SYS_TIME"] (the server's spelling). */
export function parseCaps(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((c) => c.trim().toUpperCase().replace(/^CAP_ADD:/, "").replace(/^CAP_/, ""))
    .filter(Boolean)
    .map((c) => `cap_add:${c}`);
}

/** `/srv/media/, /mnt/x` → ["host_path:/srv/media", "host_path:/mnt/x"] (a trailing slash dropped,
 * as the server stores it; anything else is sent as typed, for validateExceptions to judge). */
export function parsePaths(text: string): string[] {
  return text
    .split(/[,\n]+/)
    .map((p) => p.trim().replace(/^host_path:/, ""))
    .filter(Boolean)
    .map((p) => `host_path:${p.length > 1 ? p.replace(/\/+$/, "") || "/" : p}`);
}

/** `x-foo key:gpus` → ["key:x-foo", "key:gpus"]. */
export function parseKeys(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((k) => k.trim().replace(/^key:/, ""))
    .filter(Boolean)
    .map((k) => `key:${k}`);
}

/** The exceptions a form sends: sorted, without repeats. */
export function exceptionsPayload(fields: ExceptionFields): string[] {
  return [...new Set([...fields.rules, ...parseCaps(fields.caps), ...parsePaths(fields.paths), ...parseKeys(fields.keys)])].sort();
}

/** Whether `path` is absolute and normalized, as the server wants a host_path exception's. */
export function isHostPath(path: string): boolean {
  if (!path.startsWith("/") || path.includes("\0")) return false;
  if (path === "/") return true;
  return path.slice(1).split("/").every((part) => part !== "" && part !== "." && part !== "..");
}

/** What the server would refuse (services/deployer/policy `validate_exceptions`), as one message;
 * null when every name is a rule. */
export function validateExceptions(names: string[]): string | null {
  const problems: string[] = [];
  const unknown: string[] = [];
  for (const name of names) {
    if (name === "host_path") problems.push("host_path must name the path it allows, e.g. /srv/media.");
    else if (name.startsWith("host_path:")) {
      if (!isHostPath(name.slice("host_path:".length)))
        problems.push(`${name.slice("host_path:".length)} is not an absolute, normalized path (e.g. /srv/media).`);
    } else if (name.startsWith("cap_add:")) {
      if (!CAP.test(name)) problems.push(`${name.slice("cap_add:".length)} is not a capability name (e.g. NET_ADMIN).`);
    } else if (name.startsWith("key:")) {
      if (!KEY.test(name)) problems.push(`${name.slice("key:".length)} is not a compose key (lowercase letters, digits, '_', '.', '-').`);
    } else if (!RULE_NAMES.has(name)) unknown.push(name);
  }
  if (unknown.length) problems.push(`Unknown exception${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")}.`);
  return problems.length ? problems.join(" ") : null;
}

/** Splits an app's current exceptions into the rule checkboxes and the named rules' fields. */
export function splitExceptions(names: string[]): ExceptionFields {
  const named = (prefix: string, sep: string) =>
    names
      .filter((n) => n.startsWith(prefix))
      .map((n) => n.slice(prefix.length))
      .join(sep);
  return {
    rules: names.filter((n) => !/^(cap_add|host_path|key):/.test(n)),
    caps: named("cap_add:", ", "),
    paths: named("host_path:", ", "),
    keys: named("key:", ", "),
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
