/** The backup schedule form's retention field: what the server accepts (0 keeps all, at most 1000).
 * An empty field is refused, never read as 0: that would silently switch to keeping every backup. */

export const MAX_RETENTION = 1000;

export type Retention = { value: number; error: null } | { value: null; error: string };

export function parseRetention(text: string): Retention {
  const trimmed = text.trim();
  if (!trimmed) return { value: null, error: "Enter how many backups to keep (0 keeps them all)." };
  if (!/^\d+$/.test(trimmed) || Number(trimmed) > MAX_RETENTION) {
    return { value: null, error: `A whole number from 0 (keep all) to ${MAX_RETENTION}.` };
  }
  return { value: Number(trimmed), error: null };
}
