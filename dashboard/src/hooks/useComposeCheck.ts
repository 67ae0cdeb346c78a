import { useEffect, useState } from "react";
import { api, unwrap } from "@/api/client";
import { outcomeOfError, type CheckOutcome, type ComposeCheckInput } from "@/lib/composeCheck";

export const CHECK_DELAY_MS = 500;

export interface ComposeCheck {
  /** The answer for the latest text that has one; null before the first. */
  outcome: CheckOutcome | null;
  /** Whether that answer is for older text than the editors hold (a check is waiting or running). */
  stale: boolean;
}

/**
 * Checks the files as a create (or, for an existing app, an edit) would, `delayMs` after the last
 * change (`POST /api/v1/apps:validate`, which stores nothing). A change cancels the request in
 * flight, and an answer for older text is never shown as the answer for the current one. `input`
 * null: nothing to check (a viewer, a form not ready); the last answer is dropped.
 */
export function useComposeCheck(input: ComposeCheckInput | null, delayMs = CHECK_DELAY_MS): ComposeCheck {
  const key = input ? JSON.stringify([input.name, input.compose, input.env, input.allow ?? []]) : "";
  const [answer, setAnswer] = useState<{ key: string; outcome: CheckOutcome } | null>(null);

  useEffect(() => {
    if (!key) return;
    const [name, compose, env, allow] = JSON.parse(key) as [string, string, string, string[]];
    const abort = new AbortController();
    const timer = setTimeout(async () => {
      let outcome: CheckOutcome;
      try {
        const body = { name, compose, env, ...(allow.length ? { allow } : {}) };
        const reply = await unwrap(api.POST("/api/v1/apps:validate", { body, signal: abort.signal }));
        outcome = { kind: "valid", services: reply.services ?? [], warnings: reply.warnings ?? [] };
      } catch (err) {
        outcome = outcomeOfError(err);
      }
      if (!abort.signal.aborted) setAnswer({ key, outcome });
    }, delayMs);
    return () => {
      clearTimeout(timer);
      abort.abort();
    };
  }, [key, delayMs]);

  if (!key) return { outcome: null, stale: false };
  return { outcome: answer?.outcome ?? null, stale: answer?.key !== key };
}
