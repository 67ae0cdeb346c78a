/**
 * Which cached queries each event of the live stream makes stale: the one place that ties the
 * gateway's event types to the dashboard's query keys. Queries listed here are refreshed by events,
 * not on a timer; when the stream (re)starts, all of them are refetched, since events may have
 * passed while it was not listening.
 */
import type { QueryClient, QueryKey } from "@tanstack/react-query";

export interface AppOSEvent {
  seq: number;
  type: string;
  subject: string;
  actor?: string;
  payload: Record<string, unknown>;
  created_at?: string;
}

/** The first element of every query key that events keep fresh. */
export const EVENT_DRIVEN_ROOTS = [
  "apps",
  "app",
  "versions",
  "deployments",
  "deployment",
  "domains",
  "backups",
  "backup-settings",
  "users",
  "me",
  "tokens",
  "notification-targets",
  "updates",
  // app stores and the catalog they add to (a refresh may end while the stream is away); not a
  // template's page, whose refetch would reset a settings form being filled in
  "stores",
  "store",
  "catalog",
  // servers are also read every 10 s (their status comes from the deployer's probes, not events)
  "servers",
  // changes when the gateway restarts, which restarts the stream; its event count follows the stream
  "system-info",
] as const;

const BACKUP_VOLUMES = "backup.volumes.";

function text(value: unknown): string {
  return typeof value === "string" ? value : "";
}

/** The query keys (prefixes) that `event` makes stale; empty for events no query shows. */
export function queryKeysFor(event: AppOSEvent): QueryKey[] {
  const { type, subject, payload } = event;
  // Many per deployment and per backup: the log view listens itself, a backup's steps show nowhere.
  if (type === "deployment_log" || type === "backup_progress") return [];
  if (type === "backup_restored") return EVENT_DRIVEN_ROOTS.map((root) => [root]); // a new install under the console
  if (type.startsWith("app_") || type.startsWith("version_")) return [["apps"], ["app", subject], ["versions", subject]];
  if (type.startsWith("deployment_")) {
    const app = text(payload.app);
    const keys: QueryKey[] = [["deployments"], ["deployment", subject]];
    // an app's status, last deployment and "saved, not deployed" follow its deployments
    if (app) keys.push(["apps"], ["app", app], ["versions", app]);
    return keys;
  }
  // a check's end, a new finding, an update's step or end: the rows (and badges) and that deployment
  if (type === "updates_checked" || type === "update_available") return [["updates"]];
  if (type.startsWith("update_")) {
    const deployment = text(payload.deployment);
    const app = text(payload.app) || subject;
    return [["updates"], ...(deployment ? [["deployment", deployment]] : []), ...(app ? [["app", app]] : [])];
  }
  // a store's refresh ended: its row, its details, the catalog, and the templates that changed
  if (type === "store_refreshed") {
    const changed = Array.isArray(payload.changed) ? payload.changed.map(text).filter(Boolean) : [];
    return [["stores"], ["store", subject], ["catalog"], ...changed.map((name) => ["template", name])];
  }
  // a server added, removed or its host key pinned again (server_added, server_removed, server_host_key_pinned)
  if (type.startsWith("server_")) return [["servers"]];
  if (type.startsWith("domain_") || type.startsWith("certificate_")) return [["domains"]];
  if (type.startsWith("backup_")) return [["backups"]];
  if (type === "settings_changed") {
    const changed = Array.isArray(payload.keys) ? payload.keys.map(text) : [];
    const keys: QueryKey[] = [];
    if (changed.some((key) => key.startsWith("backup."))) keys.push(["backup-settings"]);
    for (const key of changed.filter((k) => k.startsWith(BACKUP_VOLUMES))) keys.push(["app", key.slice(BACKUP_VOLUMES.length)]);
    return keys;
  }
  if (type.startsWith("user_")) return [["users"], ["me"]];
  if (type.startsWith("totp_")) return [["users"], ["me"]];
  if (type.startsWith("token_")) return [["tokens"]];
  if (type.startsWith("notification_")) return [["notification-targets"]];
  return [];
}

/** Marks what `event` concerns as stale; the queries on screen refetch. */
export function invalidateFor(queryClient: QueryClient, event: AppOSEvent) {
  for (const queryKey of queryKeysFor(event)) queryClient.invalidateQueries({ queryKey });
}

/** Marks every event-driven query stale (the stream has just started or come back: what it did not
 * see may have changed); queries that only polled, such as stats and health, are left alone. */
export function invalidateEventDriven(queryClient: QueryClient) {
  const roots = new Set<unknown>(EVENT_DRIVEN_ROOTS);
  return queryClient.invalidateQueries({ predicate: (query) => roots.has(query.queryKey[0]) });
}
