/**
 * The notification target form (`/api/v1/notifications/targets`): its values, checks that mirror
 * the server's (services/notify/targets.py), and the body it sends. Secrets are write-only: a
 * stored secret or password is never read back, only whether one is set; an empty field keeps it.
 */
import type { Schemas } from "@/api/client";

export type NotificationTarget = Schemas["NotificationTarget"];
export type NotificationDelivery = Schemas["NotificationDelivery"];
export type TargetKind = "webhook" | "email";
export type Security = "starttls" | "ssl" | "none";

export const SECURITIES: Security[] = ["starttls", "ssl", "none"];
export const DEFAULT_PORTS: Record<Security, number> = { starttls: 587, ssl: 465, none: 25 };
export const MAX_RECIPIENTS = 20;

export const EVENT_LABELS: Record<string, string> = {
  deployment_failed: "A deployment failed",
  auto_rollback: "An app was rolled back automatically",
  certificate_expiring: "A certificate is about to expire",
  certificate_failed: "A certificate could not be issued",
  app_unhealthy: "An app turned unhealthy, crashed or ran out of memory",
  update_available: "An update check found a newer image for an app",
};

export interface TargetForm {
  name: string;
  kind: TargetKind;
  enabled: boolean;
  events: string[];
  url: string;
  secret: string;
  host: string;
  port: string;
  security: Security;
  username: string;
  password: string;
  from_address: string;
  to: string;
}

export type TargetErrors = Partial<Record<keyof TargetForm, string>>;

export function emptyTargetForm(eventKinds: string[]): TargetForm {
  return {
    name: "",
    kind: "webhook",
    enabled: true,
    events: [...eventKinds],
    url: "",
    secret: "",
    host: "",
    port: "",
    security: "starttls",
    username: "",
    password: "",
    from_address: "",
    to: "",
  };
}

/** A stored target as the edit form starts: everything but its secrets. */
export function formFromTarget(target: NotificationTarget, eventKinds: string[]): TargetForm {
  const form = emptyTargetForm(eventKinds);
  const email = target.email ?? {};
  return {
    ...form,
    name: target.name ?? "",
    kind: target.kind === "email" ? "email" : "webhook",
    enabled: target.enabled ?? true,
    events: target.events?.length ? [...target.events] : [...eventKinds],
    url: target.webhook?.url ?? "",
    host: email.host ?? "",
    port: email.port ? String(email.port) : "",
    security: SECURITIES.includes(email.security as Security) ? (email.security as Security) : "starttls",
    username: email.username ?? "",
    from_address: email.from_address ?? "",
    to: (email.to ?? []).join(", "),
  };
}

/** Whether the stored target already has the secret the form may leave empty. */
export function storedSecrets(existing: NotificationTarget | undefined, kind: TargetKind): { secret: boolean; password: boolean } {
  if (!existing || existing.kind !== kind) return { secret: false, password: false };
  return { secret: Boolean(existing.webhook?.secret_set), password: Boolean(existing.email?.password_set) };
}

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const HOST_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
const HOSTNAME = new RegExp(`^${HOST_LABEL}(?:\\.${HOST_LABEL})*\\.?$`);
const EMAIL = new RegExp(`^[A-Za-z0-9.!#$%&'*+/=?^_\`{|}~-]{1,64}@${HOST_LABEL}(?:\\.${HOST_LABEL})*$`);
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

function isIp(host: string): boolean {
  return IPV4.test(host) || (host.includes(":") && /^[0-9a-fA-F:.]+$/.test(host));
}

export function isHost(host: string): boolean {
  return isIp(host) || (host.length <= 253 && HOSTNAME.test(host));
}

export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || (IPV4.test(host) && host.startsWith("127."));
}

export function isEmail(address: string): boolean {
  return address.length <= 254 && EMAIL.test(address);
}

export function parseRecipients(text: string): string[] {
  return text
    .split(/[\s,;]+/)
    .map((a) => a.trim())
    .filter(Boolean);
}

export function validateUrl(url: string): string | null {
  if (!url) return "Enter the URL to POST to.";
  if (url.length > 2048 || /[\s\x00-\x1f]/.test(url)) return "A URL of at most 2048 characters, without spaces.";
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "That is not a URL (http://… or https://…).";
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return "The URL must start with http:// or https://.";
  if (parsed.username || parsed.password) return "No user or password in the URL: the secret signs each request.";
  if (!isHost(parsed.hostname.replace(/^\[|\]$/g, ""))) return "The URL's host is not a host name or IP address.";
  return null;
}

/** Per-field messages; empty when the server should accept the form. `existing`: the stored
 * target being edited (its secrets may stay as they are). */
export function validateTarget(form: TargetForm, existing?: NotificationTarget): TargetErrors {
  const errors: TargetErrors = {};
  const stored = storedSecrets(existing, form.kind);
  if (!existing && !DNS_LABEL.test(form.name)) errors.name = "1–63 lowercase letters, digits or '-', not starting or ending with '-'.";
  if (form.events.length === 0) errors.events = "Tick at least one event.";
  if (form.kind === "webhook") {
    const url = validateUrl(form.url.trim());
    if (url) errors.url = url;
    if (!form.secret && !stored.secret) errors.secret = "Enter a secret of 16–256 characters, or generate one.";
    else if (form.secret && (form.secret.length < 16 || form.secret.length > 256)) errors.secret = "The secret must be 16–256 characters.";
    return errors;
  }
  const host = form.host.trim();
  if (!host) errors.host = "Enter the SMTP server's host name.";
  else if (!isHost(host)) errors.host = "That is not a host name or IP address.";
  const port = form.port.trim();
  if (port && !(/^\d+$/.test(port) && Number(port) >= 1 && Number(port) <= 65535)) errors.port = "A port from 1 to 65535 (empty: the default).";
  const username = form.username.trim();
  if (username.length > 256 || /\s/.test(form.username.trim())) errors.username = "At most 256 characters, without spaces.";
  const hasPassword = Boolean(form.password) || (stored.password && Boolean(username));
  if (form.password && !username) errors.password = "A password needs a username.";
  else if (username && !hasPassword) errors.password = "Enter the password for this username.";
  else if (form.password.length > 256) errors.password = "At most 256 characters.";
  else if (hasPassword && form.security === "none" && host && !isLoopback(host))
    errors.security = "A password is sent only over TLS: choose starttls or ssl.";
  if (!isEmail(form.from_address.trim())) errors.from_address = "Enter the sender's email address.";
  const to = parseRecipients(form.to);
  if (to.length === 0) errors.to = "Enter at least one recipient.";
  else if (to.length > MAX_RECIPIENTS) errors.to = `At most ${MAX_RECIPIENTS} recipients.`;
  else {
    const bad = to.filter((a) => !isEmail(a));
    if (bad.length) errors.to = `Not an email address: ${bad.join(", ")}.`;
  }
  return errors;
}

export interface TargetBody {
  name?: string;
  enabled: boolean;
  events: string[];
  webhook?: { url: string; secret: string };
  email?: { host: string; port: number; security: string; username: string; password: string; from_address: string; to: string[] };
}

/** The create (with `name`) or replace body. An empty secret or password keeps the stored one. */
export function targetPayload(form: TargetForm, { create }: { create: boolean }): TargetBody {
  const body: TargetBody = { enabled: form.enabled, events: [...form.events].sort() };
  if (create) body.name = form.name;
  if (form.kind === "webhook") body.webhook = { url: form.url.trim(), secret: form.secret };
  else
    body.email = {
      host: form.host.trim(),
      port: form.port.trim() ? Number(form.port.trim()) : 0,
      security: form.security,
      username: form.username.trim(),
      password: form.username.trim() ? form.password : "",
      from_address: form.from_address.trim(),
      to: parseRecipients(form.to),
    };
  return body;
}

/** A random webhook secret: 32 hex characters from the browser's CSPRNG. */
export function generateSecret(bytes = 16): string {
  const data = new Uint8Array(bytes);
  crypto.getRandomValues(data);
  return Array.from(data, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** One line for a delivery (the test button's answer, or a target's last delivery). */
export function deliverySummary(d: NotificationDelivery): { ok: boolean; text: string } {
  const http = d.http_status ? `HTTP ${d.http_status}` : "";
  if (d.status === "delivered") return { ok: true, text: `Delivered${http ? ` (${http})` : ""}.` };
  const what = d.status === "retrying" ? `Failed, retrying (attempt ${d.attempts ?? 1})` : "Failed";
  const detail = [d.error, http && !(d.error ?? "").includes(http) ? http : ""].filter(Boolean).join("; ");
  return { ok: false, text: `${what}${detail ? `: ${detail}` : ""}.` };
}

/** A failed delivery's reason as the server said it (with the HTTP status when it adds one), for the
 * shared error display (api/errors.ts explainError says it in plain words). */
export function failureText(d: NotificationDelivery): string {
  const http = d.http_status ? `HTTP ${d.http_status}` : "";
  const attempt = d.status === "retrying" ? ` (retrying, attempt ${d.attempts ?? 1})` : "";
  return `${[d.error, http && !(d.error ?? "").includes(http) ? http : ""].filter(Boolean).join("; ") || "not delivered"}${attempt}`;
}

/** Where a target sends to, in a few words. */
export function destination(target: NotificationTarget): string {
  if (target.kind === "webhook") return target.webhook?.url ?? "";
  const email = target.email ?? {};
  return `${(email.to ?? []).join(", ")} via ${email.host ?? "?"}${email.port ? `:${email.port}` : ""}`;
}
