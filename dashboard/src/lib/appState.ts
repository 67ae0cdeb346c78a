/** What an app is doing, in words a person reads: its status, why (from its newest deployment),
 * and which actions can work now. The server decides the status (containers + newest deployment,
 * see services/state/apps.py); this only puts it into words. The CLI's `appos status` says the same
 * (cli/appstate.py). */
import type { App, ConfigVersion, Deployment } from "@/api/client";
import { formatTime } from "@/lib/format";

/** The status as a person reads it: "2 of 3 running" rather than partially_running. */
export function statusWords(app: Pick<App, "status" | "services">): string {
  const status = app.status || "unknown";
  if (status !== "partially_running") return status;
  const services = app.services ?? [];
  const running = services.filter((s) => s.state === "running").length;
  return services.length ? `${running} of ${services.length} running` : "partly running";
}

/** A deployment's kind, as a person reads it: "Rollback from v3 to v1", "Automatic rollback …", "Deploy". */
export function deploymentLabel(d: Pick<Deployment, "action" | "source" | "rollback_from" | "rollback_to" | "version">): string {
  if (d.source === "rollback" || d.source === "auto_rollback") {
    const what = d.source === "auto_rollback" ? "Automatic rollback" : "Rollback";
    return d.rollback_to ? `${what} from v${d.rollback_from} to v${d.rollback_to}` : what;
  }
  const action = d.action || "deploy";
  // An update is refused unless the app runs its newest version, and it adds the next one: it always
  // goes from the version before its own.
  if (action === "update") return d.version && d.version > 1 ? `Update from v${d.version - 1} to v${d.version}` : "Update";
  return action.charAt(0).toUpperCase() + action.slice(1);
}

/** A version's origin in words, for the history: "rollback from v3 to v1", "automatic rollback …". */
export function versionSource(v: Pick<ConfigVersion, "source" | "rollback_from" | "rollback_to">): string {
  const what = v.source === "auto_rollback" ? "automatic rollback" : (v.source ?? "").replace("_", " ");
  if ((v.source === "rollback" || v.source === "auto_rollback") && v.rollback_to) return `${what} from v${v.rollback_from} to v${v.rollback_to}`;
  return what;
}

/** A message as people read it: without the raw deployment ids that older rollbacks wrote into theirs. */
export function plainMessage(text: string | undefined): string {
  return (text ?? "").replace(/(, )?deployment [0-9a-f]{32}( of )?/g, "").trim();
}

/** For an app AppOS rolled back by itself: "Rolled back automatically to version 1 on …: version 2
 * failed: <why>". Null otherwise (and while that rollback is still running). */
export function autoRollbackNote(app: Pick<App, "last_version_deployment">): string | null {
  const d = app.last_version_deployment;
  if (!d || d.source !== "auto_rollback" || !d.rollback_to) return null;
  const when = formatTime(d.created_at);
  const why = d.rollback_cause ? `: ${d.rollback_cause}` : "";
  const outcome = d.status === "succeeded" ? "Rolled back automatically" : d.status === "failed" ? "The automatic rollback failed, going back" : "Rolling back automatically";
  return `${outcome} to version ${d.rollback_to} (${when}) because version ${d.rollback_from} failed to deploy${why}.`;
}

/** Whether the app's current version is saved but no deployment of it was tried. */
export function savedNotDeployed(app: Pick<App, "current_version" | "last_good_version" | "status" | "last_version_deployment">): boolean {
  const current = app.current_version ?? 0;
  if (!current || app.status === "deploying") return false;
  const tried = app.last_version_deployment?.version;
  if (tried !== undefined && tried !== null && tried >= current) return false;
  return current !== app.last_good_version;
}

/** Whether the app ever ran: a version deployed once, or containers that exist. */
export function everRan(app: Pick<App, "last_good_version" | "services">): boolean {
  return Boolean(app.last_good_version) || (app.services ?? []).length > 0;
}

export type AppAction = "start" | "stop" | "restart" | "redeploy";

/** Which actions can work now, and why not when one cannot. */
export function actionState(app: Pick<App, "status" | "services" | "last_good_version" | "current_version">): Record<AppAction, string | null> {
  const busy = app.status === "deploying" ? "a deployment is under way" : null;
  const ran = everRan(app);
  const services = app.services ?? [];
  const anyRunning = services.some((s) => s.state === "running");
  const allRunning = services.length > 0 && services.every((s) => s.state === "running");
  return {
    start: busy ?? (!ran ? "it never ran: deploy it first" : allRunning ? "it is running" : null),
    stop: busy ?? (!anyRunning ? "nothing of it is running" : null),
    restart: busy ?? (!anyRunning ? "nothing of it is running" : null),
    redeploy: busy ?? (app.current_version ? null : "it has no version"),
  };
}

/** The newest deployment, when it failed and left the app failed: what to show in its card. */
export function failure(app: Pick<App, "status" | "status_message" | "last_deployment">): { reason: string; deployment: Deployment | null } | null {
  if (app.status !== "failed") return null;
  const d = app.last_deployment ?? null;
  return { reason: app.status_message || d?.reason || "it stopped with an error", deployment: d?.status === "failed" ? d : null };
}
