/** App stores (issue 20) as the console shows them: their queries, formats in words, a name
 * suggested from a URL, what a store's error means and what to do next, and where a template lives
 * (`<store>/<name>` for a store's, a plain name for AppOS's own). */
import { queryOptions } from "@tanstack/react-query";
import { api, unwrap, type Schemas, type Template } from "@/api/client";

export type StoreSummary = Schemas["StoreSummary"];
export type StoreDetail = Schemas["StoreDetail"];

/** The store of AppOS's own templates, as `Template.store` and the catalog's filter name it. */
export const BUILTIN = "builtin";
const RESERVED = [BUILTIN, "stores"];

/** The formats a store can be in (`AddStoreRequest.format`), in the order the form offers them. */
export const STORE_FORMATS: { value: string; label: string }[] = [
  { value: "casaos", label: "CasaOS" },
  { value: "runtipi", label: "Runtipi" },
  { value: "umbrel", label: "Umbrel" },
  { value: "dokploy", label: "Dokploy" },
  { value: "coolify", label: "Coolify" },
  { value: "portainer", label: "Portainer" },
];

export function formatName(format: string | undefined): string {
  return STORE_FORMATS.find((f) => f.value === format)?.label ?? (format || "—");
}

const SOURCES: Record<string, string> = { git: "git repository", archive: "archive", folder: "folder on this server" };

export function sourceName(source: string | undefined): string {
  return SOURCES[source ?? ""] ?? (source || "");
}

export const storesQuery = queryOptions({
  queryKey: ["stores"],
  queryFn: () => unwrap(api.GET("/api/v1/catalog/stores")),
});

export const storeQuery = (name: string) =>
  queryOptions({
    queryKey: ["store", name],
    queryFn: () => unwrap(api.GET("/api/v1/catalog/stores/{name}", { params: { path: { name } } })),
  });

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Why a store name would be refused, or null (the deployer's rule: a DNS label, not reserved). */
export function validateStoreName(name: string): string | null {
  if (!name) return "Give the store a name.";
  if (!DNS_LABEL.test(name)) return "Lowercase letters, digits and '-', at most 63, not starting or ending with '-'.";
  if (RESERVED.includes(name)) return `“${name}” is reserved; choose another name.`;
  return null;
}

/** A store name from its URL: the repository, archive or folder name as a DNS label
 * ("https://github.com/IceWhaleTech/CasaOS-AppStore.git" → "casaos-appstore"); "" when none fits. */
export function suggestStoreName(url: string): string {
  const path = url.trim().replace(/[?#].*$/, "").replace(/\/+$/, "");
  const last = path.split(/[/:]/).pop() ?? "";
  const name = last
    .replace(/\.(git|zip|tar\.gz|tgz)$/i, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63)
    .replace(/-+$/, "");
  return name && !RESERVED.includes(name) && DNS_LABEL.test(name) ? name : "";
}

export interface StoreProblem {
  /** What is wrong, as the server said it, in one sentence. */
  summary: string;
  /** What to do about it. */
  next: string;
  /** A refresh that failed keeps the previous templates: less alarming than a store with none. */
  severity: "warning" | "error";
}

function sentence(text: string): string {
  const trimmed = text.trim();
  const first = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?)]$/.test(first) ? first : `${first}.`;
}

/** A store's `error` in plain words with the next step; null when all is well. */
export function storeProblem(store: Pick<StoreSummary, "error" | "templates" | "skipped">): StoreProblem | null {
  const error = (store.error ?? "").trim();
  if (!error) return null;
  if (/^the last refresh failed/i.test(error)) {
    return {
      summary: sentence(error),
      next: "Check that the store can be reached from this server (its URL, the network, the repository's access), then refresh it again.",
      severity: "warning",
    };
  }
  if (/^no entry could be used/i.test(error)) {
    return {
      summary: sentence(error.replace(/\s*\(see why below\)/, "")),
      next: "Open Details to see why each entry was skipped. Entries AppOS cannot run safely (privileged containers, host networking) stay out on purpose.",
      severity: "error",
    };
  }
  if (/has no apps in the/i.test(error)) {
    return {
      summary: sentence(error),
      next: "Check that the URL points at the store's top folder, or remove the store and add it again with its format chosen instead of detected.",
      severity: "error",
    };
  }
  return { summary: sentence(error), next: "Refresh the store; if it keeps failing, remove it and add it again.", severity: (store.templates ?? 0) > 0 ? "warning" : "error" };
}

/** A template name split into its store and its own name (`store` is "" for AppOS's own). */
export function splitTemplateName(name: string): { store: string; template: string } {
  const slash = name.indexOf("/");
  return slash < 0 ? { store: "", template: name } : { store: name.slice(0, slash), template: name.slice(slash + 1) };
}

/** True for a template a store brought (community, not reviewed by AppOS). */
export function isCommunity(template: Pick<Template, "store" | "name">): boolean {
  if (template.store) return template.store !== BUILTIN;
  return (template.name ?? "").includes("/");
}

/** The words of a store template's badge. */
export function communityLabel(store: string): string {
  return `${store} · community, not reviewed by AppOS`;
}

/** The app name the deploy form starts with: the template's own name, without its store. */
export function defaultAppName(templateName: string): string {
  return splitTemplateName(templateName).template;
}

/** What a finished refresh (the `store_refreshed` event) found, in one line. */
export function refreshedWords(result: { templates: number; skipped: number; error: string; changed: string[] }): string {
  if (result.error && /^the last refresh failed/i.test(result.error)) return "The refresh failed; the store keeps its previous templates.";
  const counts = `Refreshed: ${result.templates} ${result.templates === 1 ? "template" : "templates"}, ${result.skipped} skipped`;
  const n = result.changed.length;
  if (!n) return `${counts}; no template changed.`;
  return `${counts}; ${n} ${n === 1 ? "template" : "templates"} changed (${result.changed.join(", ")}): apps made from ${n === 1 ? "it" : "them"} show an update.`;
}

/** The catalog's store filter: all, AppOS's own, each store (and the one a link asked for, even
 * when it is gone, so the filter shows what the list is filtered by). */
export function storeChoices(stores: string[], current: string): { value: string; label: string }[] {
  const names = [...stores, ...(current && current !== BUILTIN && !stores.includes(current) ? [current] : [])];
  return [{ value: "", label: "All stores" }, { value: BUILTIN, label: "AppOS" }, ...names.map((name) => ({ value: name, label: name }))];
}
