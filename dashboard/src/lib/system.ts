/** `GET /health` (no token) and `GET /api/v1/system/info`. /health answers 503 *with* the parts
 * when one is down: that is a result to show, not an error. */
import { api, type Health } from "@/api/client";
import { networkError, toApiError } from "@/api/errors";

export async function fetchHealth(client = api): Promise<Health> {
  const { data, error, response } = await client.GET("/health").catch((cause: unknown) => {
    throw networkError(cause);
  });
  if (response.ok && data) return data;
  if (response.status === 503 && isHealth(error)) return error;
  throw toApiError(response.status, error, response.statusText);
}

function isHealth(value: unknown): value is Health {
  return typeof value === "object" && value !== null && Array.isArray((value as Health).parts);
}

/** Parts that are down first, then by name. */
export function sortParts(parts: NonNullable<Health["parts"]>): NonNullable<Health["parts"]> {
  return [...parts].sort((a, b) => Number(a.status === "ok") - Number(b.status === "ok") || (a.name ?? "").localeCompare(b.name ?? ""));
}

/** "3 days 4 h", "12 min", from a start time. */
export function uptime(startedAt: string | undefined, now: number = Date.now()): string {
  if (!startedAt) return "—";
  const start = new Date(startedAt).getTime();
  if (Number.isNaN(start)) return "—";
  const minutes = Math.max(0, Math.floor((now - start) / 60_000));
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ${minutes % 60} min`;
  const days = Math.floor(hours / 24);
  return `${days} day${days === 1 ? "" : "s"} ${hours % 24} h`;
}
