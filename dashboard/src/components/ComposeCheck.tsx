import { CheckCircle2, CircleSlash, Loader2, ShieldAlert, TriangleAlert } from "lucide-react";
import type { ReactNode } from "react";
import { Badge } from "@/components/ui/badge";
import type { ComposeCheck } from "@/hooks/useComposeCheck";
import { servicesLabel, type CheckOutcome } from "@/lib/composeCheck";
import { cn } from "@/lib/utils";

interface Props {
  check: ComposeCheck;
  /** Shown while there is nothing to check (e.g. the app has no name yet). */
  waiting?: string;
  /** What an admin can do about a refused rule on this page. */
  adminHint?: ReactNode;
}

/** The live check's answer next to a compose editor. Advice only: saving is never blocked by it
 * (the server checks again). A polite live region, not an alert: it changes as the user types. */
export function ComposeCheckPanel({ check, waiting, adminHint }: Props) {
  const { outcome, stale } = check;
  if (!outcome && !stale && !waiting) return null;
  return (
    <div role="status" aria-live="polite" data-testid="compose-check" className={cn("rounded-lg border px-3 py-2 text-sm", tone(outcome), stale && outcome && "opacity-70")}>
      {stale && (
        <p className="mb-1 flex items-center gap-1.5 text-xs text-muted-foreground">
          <Loader2 className="size-3 animate-spin" aria-hidden />
          Checking the file…
        </p>
      )}
      {outcome ? <Outcome outcome={outcome} adminHint={adminHint} /> : !stale && <p className="text-xs text-muted-foreground">{waiting}</p>}
    </div>
  );
}

function tone(outcome: CheckOutcome | null): string {
  switch (outcome?.kind) {
    case "valid":
      return outcome.warnings.length ? "border-warning/50 bg-warning/5" : "border-success/40 bg-success/5";
    case "policy":
    case "invalid":
      return "border-destructive/40 bg-destructive/5";
    default:
      return "bg-muted/40";
  }
}

function Outcome({ outcome, adminHint }: { outcome: CheckOutcome; adminHint?: ReactNode }) {
  switch (outcome.kind) {
    case "valid":
      return (
        <div className="grid gap-1.5">
          <p className="flex items-center gap-1.5 font-medium text-[oklch(0.42_0.12_155)]">
            <CheckCircle2 className="size-4" aria-hidden />
            <span>
              Valid — {servicesLabel(outcome.services)}
              {outcome.services.length > 0 && <span className="font-normal text-muted-foreground"> ({outcome.services.join(", ")})</span>}
            </span>
          </p>
          {outcome.warnings.length > 0 && (
            <div>
              <p className="flex items-center gap-1.5 text-xs font-medium">
                <TriangleAlert className="size-3.5 text-warning" aria-hidden />
                {outcome.warnings.length === 1 ? "Warning" : `${outcome.warnings.length} warnings`} (the file is accepted):
              </p>
              <ul className="mt-1 grid list-disc gap-0.5 pl-6 text-xs break-words" data-testid="compose-check-warnings">
                {outcome.warnings.map((w, i) => (
                  <li key={i}>{w}</li>
                ))}
              </ul>
            </div>
          )}
        </div>
      );
    case "policy": {
      const grantable = outcome.items.some((i) => i.rule);
      const never = outcome.items.some((i) => !i.rule);
      return (
        <div className="grid gap-2">
          <p className="flex items-center gap-1.5 font-medium text-destructive">
            <ShieldAlert className="size-4" aria-hidden />
            The compose policy refuses {outcome.items.length === 1 ? "this file" : `${outcome.items.length} things in this file`}:
          </p>
          <ul className="grid gap-1.5" data-testid="compose-check-refusals">
            {outcome.items.map((item, i) => (
              <li key={i} className="flex flex-wrap items-baseline gap-x-2 gap-y-1 break-words">
                <span className="min-w-0">{item.text}</span>{" "}
                {item.rule ? (
                  <Badge variant="warning" className="font-mono" title="The rule an admin can allow for this app">
                    {item.rule}
                  </Badge>
                ) : (
                  <Badge variant="destructive" title="No exception lifts this">
                    never allowed
                  </Badge>
                )}
              </li>
            ))}
          </ul>
          <p className="text-xs text-muted-foreground">
            {grantable && "Edit the file to do without it, or ask an admin to allow the rule shown for this app. "}
            {never && "What is marked never allowed has to change in the file. "}
            {grantable && adminHint}
          </p>
        </div>
      );
    }
    case "invalid":
      return (
        <div className="grid gap-1">
          <p className="flex items-center gap-1.5 font-medium text-destructive">
            <CircleSlash className="size-4" aria-hidden />
            This file would be refused:
          </p>
          <p className="break-words whitespace-pre-wrap">{outcome.message}</p>
          {/compose|\.env|variable/i.test(outcome.message) && <p className="text-xs text-muted-foreground">Edit the file (or the .env) to fix it.</p>}
        </div>
      );
    case "unchecked":
      return (
        <p className="text-xs text-muted-foreground">
          Could not check the file: {outcome.message} Saving still works; the server checks the file then.
        </p>
      );
  }
}
