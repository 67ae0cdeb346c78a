/** The audit log's filters: each field offers what the table shows (the actions without the
 * package, the users, the apps) and still takes any text; the server matches an action with or
 * without the "appos.v1." package, exactly or as a dotted prefix ("Apps" = every Apps action). */
import { useState, type FormEvent } from "react";
import type { Schemas } from "@/api/client";
import { Button } from "@/components/ui/button";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";

type Entry = Schemas["AuditEntry"];
export type AuditFilter = { user: string; app: string; action: string };
const KEYS = ["user", "app", "action"] as const;

/** An action as the table shows it. */
export function shownAction(action: string | undefined): string {
  return (action ?? "").replace(/^appos\.v1\./, "");
}

/** The distinct values of each filter among `entries`, sorted. */
export function auditChoices(entries: Entry[]): Record<keyof AuditFilter, string[]> {
  const pick = (value: (e: Entry) => string | undefined) =>
    [...new Set(entries.map(value).filter((v): v is string => !!v && v !== "-"))].sort();
  return { user: pick((e) => e.actor), app: pick((e) => e.app), action: pick((e) => shownAction(e.action)) };
}

export function AuditFilters({ entries, onApply }: { entries: Entry[]; onApply: (filter: AuditFilter) => void }) {
  const [draft, setDraft] = useState<AuditFilter>({ user: "", app: "", action: "" });
  const choices = auditChoices(entries);
  const apply = (event: FormEvent) => {
    event.preventDefault();
    onApply({ user: draft.user.trim(), app: draft.app.trim(), action: draft.action.trim() });
  };
  return (
    <form onSubmit={apply} aria-label="Audit filter" className="mb-4 grid gap-3 sm:grid-cols-[1fr_1fr_1fr_auto] sm:items-end">
      {KEYS.map((key) => (
        <div key={key} className="grid gap-1.5">
          <Label htmlFor={`audit-${key}`} className="capitalize">
            {key}
          </Label>
          <Input
            id={`audit-${key}`}
            list={`audit-${key}-choices`}
            autoComplete="off"
            value={draft[key]}
            placeholder={key === "action" ? "Apps.Rollback, or Apps for all" : "any"}
            onChange={(e) => setDraft({ ...draft, [key]: e.target.value })}
          />
          <datalist id={`audit-${key}-choices`} data-testid={`audit-${key}-choices`}>
            {choices[key].map((value) => (
              <option key={value} value={value} />
            ))}
          </datalist>
        </div>
      ))}
      <Button type="submit" variant="outline">
        Filter
      </Button>
    </form>
  );
}
