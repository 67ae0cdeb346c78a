/**
 * The compose editors' live check (`POST /api/v1/apps:validate`): what its answer means to a
 * person. A policy refusal reads `compose policy: <what> (rule <name>); <what> (never allowed); … .
 * An admin can allow a rule for this app (…).` and becomes one item per refusal, with its rule.
 */
import { ApiError, errorMessage } from "@/api/errors";

/** The `POST /api/v1/apps:validate` body. */
export interface ComposeCheckInput {
  name: string;
  compose: string;
  env: string;
  /** A new app's exceptions (admins only). */
  allow?: string[];
}

export interface RefusalItem {
  text: string;
  /** The exception an admin can grant for it (`privileged`, `host_path:/srv/media`, …); "" when
   * none can (a bind of the app's own folder, a symlink on a path). */
  rule: string;
}

export type CheckOutcome =
  | { kind: "valid"; services: string[]; warnings: string[] }
  /** The file breaks the compose policy: each refusal, with its rule. */
  | { kind: "policy"; items: RefusalItem[] }
  /** Anything else the server refused (Compose's own validation, the .env, the exceptions asked for). */
  | { kind: "invalid"; message: string }
  /** No answer (network, server failure, role): says nothing about the file. */
  | { kind: "unchecked"; message: string };

const PREFIX = "compose policy:";
const ITEM = /\s*(.+?) \((?:rule (.+?)|never allowed)\)(?:;|\.?$)/gy;

/** The refusals of a `compose policy: …` message, or null when it is not one. */
export function parsePolicyRefusal(message: string): RefusalItem[] | null {
  if (!message.startsWith(PREFIX)) return null;
  let body = message.slice(PREFIX.length).trim();
  const advice = body.indexOf(". An admin can allow");
  if (advice >= 0) body = body.slice(0, advice);
  const items: RefusalItem[] = [];
  ITEM.lastIndex = 0;
  let match: RegExpExecArray | null;
  let end = 0;
  while ((match = ITEM.exec(body)) !== null) {
    items.push({ text: match[1].trim(), rule: match[2] ?? "" });
    end = ITEM.lastIndex;
  }
  // Something the pattern did not follow: show it as it is rather than lose a word of it.
  const rest = body.slice(end).trim();
  if (rest || !items.length) items.push({ text: rest || body, rule: "" });
  return items;
}

/** What a check's failure says about the file. */
export function outcomeOfError(error: unknown): CheckOutcome {
  if (error instanceof ApiError && error.status === 400) {
    const items = parsePolicyRefusal(error.message);
    return items ? { kind: "policy", items } : { kind: "invalid", message: error.message };
  }
  return { kind: "unchecked", message: errorMessage(error) };
}

export function servicesLabel(services: string[]): string {
  return `${services.length} service${services.length === 1 ? "" : "s"}`;
}
