/** Image updates in words: the last check's rows grouped by app, what each kind means, the badge an
 * app gets, and "update all" (each app requested on its own; one failure never stops the others).
 * The rows come from `GET /api/v1/updates` (the update check, services/deployer/updates/). A row of
 * kind `template` is not an image's: the store template the app was made from changed (issue 20),
 * with `image` naming it (`<store>/<template>`), `diff` its files old → new and no service or tag;
 * nothing applies it, so it never counts towards Update or Update all. */
import { queryOptions } from "@tanstack/react-query";
import { api, unwrap, type App, type Deployment, type Schemas } from "@/api/client";
import { explainError } from "@/api/errors";

export type ImageUpdate = Schemas["ImageUpdate"];
export type UpdateKind = "digest" | "patch" | "minor" | "major" | "unknown" | "template";

export const updatesQuery = queryOptions({
  queryKey: ["updates"],
  queryFn: () => unwrap(api.GET("/api/v1/updates")),
});

export interface AppUpdates {
  app: string;
  rows: ImageUpdate[];
  /** The newest time any of its rows was checked. */
  checkedAt: string;
}

/** True for a store template's change (not an image's). */
export function isTemplateUpdate(row: ImageUpdate): boolean {
  return row.kind === "template";
}

/** One app's rows split: its images' (what Update changes) and its store template's changes. */
export function splitRows(rows: ImageUpdate[]): { images: ImageUpdate[]; templates: ImageUpdate[] } {
  return { images: rows.filter((r) => !isTemplateUpdate(r)), templates: rows.filter(isTemplateUpdate) };
}

/** The rows grouped by app (apps by name; within one, the template's change first, then by service,
 * then digest < patch < minor < major < unknown). */
export function groupByApp(rows: ImageUpdate[]): AppUpdates[] {
  const order: Record<string, number> = { template: -1, digest: 0, patch: 1, minor: 2, major: 3, unknown: 4 };
  const groups = new Map<string, ImageUpdate[]>();
  for (const row of rows) {
    const app = row.app ?? "";
    groups.set(app, [...(groups.get(app) ?? []), row]);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([app, list]) => ({
      app,
      // a template row has no service: it sorts first
      rows: [...list].sort((a, b) => (a.service ?? "").localeCompare(b.service ?? "") || (order[a.kind ?? ""] ?? 9) - (order[b.kind ?? ""] ?? 9)),
      checkedAt: latest(list.map((r) => r.checked_at)),
    }));
}

function latest(times: (string | undefined)[]): string {
  return times.filter((t): t is string => !!t).sort().at(-1) ?? "";
}

/** The rows that still describe what their app runs: a row found for an image its app's newest
 * successful deployment no longer runs (it was updated since the check) is left out until the next
 * check. Apps not given, or whose last deployment recorded no images, keep their rows. */
export function stillCurrent(rows: ImageUpdate[], apps: App[]): ImageUpdate[] {
  const running = new Map<string, Map<string, string>>();
  for (const app of apps) {
    const d = app.last_deployment;
    if (!app.name || d?.status !== "succeeded" || !d.images?.length) continue;
    running.set(app.name, new Map(d.images.map((i) => [i.service ?? "", i.image ?? ""])));
  }
  return rows.filter((row) => {
    const image = running.get(row.app ?? "")?.get(row.service ?? "");
    return image === undefined || image === row.image;
  });
}

/** When the last image check ran (the newest `checked_at` of any image's row), or "" when none is
 * known. A template row's time is when a store's refresh found the change, not a check. */
export function lastChecked(rows: ImageUpdate[]): string {
  return latest(rows.filter((r) => !isTemplateUpdate(r)).map((r) => r.checked_at));
}

/** What a kind means, for the badge's title and the page. */
export const KIND_WORDS: Record<UpdateKind, string> = {
  digest: "same tag, new image",
  patch: "patch",
  minor: "minor",
  major: "major — may need changes, read the release notes",
  unknown: "could not check",
  template: "store template changed",
};

export function kindWords(kind: string | undefined): string {
  return KIND_WORDS[(kind ?? "unknown") as UpdateKind] ?? kind ?? "unknown";
}

/** sha256:0123456789abcdef… → 0123456789ab (what people compare by eye). */
export function shortDigest(digest: string | undefined): string {
  if (!digest) return "";
  const hex = digest.includes(":") ? digest.slice(digest.indexOf(":") + 1) : digest;
  return hex.slice(0, 12);
}

/** An unknown row's reason in plain words (the check's reasons already are; this drops what is not). */
export function unknownWords(row: ImageUpdate): string {
  const reason = (row.reason ?? "").trim();
  if (!reason) return "The registry could not be asked about this image.";
  return explainError(reason).summary;
}

/** The headline of a template row: "The store template casa/hello changed." */
export function templateWords(row: ImageUpdate): string {
  if (row.image) return `The store template ${row.image} changed.`;
  const reason = (row.reason ?? "").trim();
  return reason ? `${reason.charAt(0).toUpperCase()}${reason.slice(1)}.` : "The store template this app was made from changed.";
}

/** The badge an app gets from the last check: a major beats the others, an image update beats a
 * changed store template; unknown rows give none. */
export function appBadge(rows: ImageUpdate[], app: string | App): "major" | "update" | "template" | null {
  const name = typeof app === "string" ? app : (app.name ?? "");
  const current = typeof app === "string" ? rows : stillCurrent(rows, [app]);
  const kinds = current.filter((r) => r.app === name).map((r) => r.kind);
  if (kinds.includes("major")) return "major";
  if (kinds.some((k) => k === "digest" || k === "patch" || k === "minor")) return "update";
  if (kinds.includes("template")) return "template";
  return null;
}

/** Whether an app has anything an update would change by default (not counting majors). */
export function hasDefaultUpdate(rows: ImageUpdate[]): boolean {
  return rows.some((r) => r.kind === "digest" || r.kind === "patch" || r.kind === "minor");
}

/** What an update of `rows` (one app's) changes, one line per service: the newest non-major
 * candidate, or the major when `major` is allowed and the service has one. */
export interface PlannedChange {
  service: string;
  image: string;
  from: string;
  to: string;
  kind: string;
}

export function plannedChanges(rows: ImageUpdate[], major: boolean): PlannedChange[] {
  const rank: Record<string, number> = { digest: 0, patch: 1, minor: 2, major: 3 };
  const best = new Map<string, ImageUpdate>();
  for (const row of rows) {
    const kind = row.kind ?? "";
    if (!(kind in rank) || (kind === "major" && !major)) continue;
    const service = row.service ?? "";
    const held = best.get(service);
    if (!held || rank[kind] > rank[held.kind ?? ""]) best.set(service, row);
  }
  return [...best.values()]
    .sort((a, b) => (a.service ?? "").localeCompare(b.service ?? ""))
    .map((r) => ({
      service: r.service ?? "",
      image: r.image ?? "",
      from: r.current_tag || shortDigest(r.current_digest),
      to: r.kind === "digest" ? `${r.candidate_tag || r.current_tag} (${shortDigest(r.candidate_digest)})` : (r.candidate_tag ?? ""),
      kind: r.kind ?? "",
    }));
}

export interface UpdateBody {
  services?: Record<string, string>;
  allow_major?: boolean;
  snapshot_volumes?: boolean;
}

/** `POST /api/v1/apps/{app}/update` → the update's deployment (202). Errors are ApiErrors: a major
 * without allow_major is 400 naming it, nothing to update 409. */
export async function requestUpdate(app: string, body: UpdateBody = {}): Promise<Deployment> {
  const reply = await unwrap(api.POST("/api/v1/apps/{app}/update", { params: { path: { app } }, body }));
  return reply.deployment ?? {};
}

/** The body for one app's update: empty (the server takes each service's newest non-major
 * candidate of the last check), or with majors allowed (then each service's newest, major included). */
export function updateBody(_rows: ImageUpdate[], major: boolean): UpdateBody {
  return major ? { allow_major: true } : {};
}

export interface UpdateOutcome {
  app: string;
  deployment?: Deployment;
  /** Why the request failed (plain words); unset when it was accepted. */
  error?: string;
}

/** Requests each app's update on its own, one after the other; a failure is noted and the next app
 * goes on. `request` is `requestUpdate` outside tests. */
export async function updateAll(apps: string[], request: (app: string) => Promise<Deployment> = (app) => requestUpdate(app)): Promise<UpdateOutcome[]> {
  const outcomes: UpdateOutcome[] = [];
  for (const app of apps) {
    try {
      outcomes.push({ app, deployment: await request(app) });
    } catch (error) {
      outcomes.push({ app, error: explainError(error).summary });
    }
  }
  return outcomes;
}

/** "2 of 3 apps updated or updating. Failed: blog (why)." */
export function summaryWords(outcomes: UpdateOutcome[]): string {
  const started = outcomes.filter((o) => !o.error);
  const failed = outcomes.filter((o) => o.error);
  const head = `${started.length} of ${outcomes.length} ${outcomes.length === 1 ? "app" : "apps"} updated or updating.`;
  if (!failed.length) return head;
  return `${head} Failed: ${failed.map((o) => `${o.app} (${o.error})`).join("; ")}.`;
}
