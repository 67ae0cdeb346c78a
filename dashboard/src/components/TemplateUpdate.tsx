import { Link } from "@tanstack/react-router";
import { useMemo } from "react";
import { diffStats, parseUnifiedDiff, type DiffRow } from "@/lib/diff";
import { timeAgo } from "@/lib/format";
import { templateWords, type ImageUpdate } from "@/lib/updates";
import { cn } from "@/lib/utils";

const PREFIX: Partial<Record<DiffRow["kind"], string>> = { add: "+", del: "-", context: " " };

/** A unified diff as it was written, in a <pre>: added lines green, removed ones red. */
export function DiffPre({ diff }: { diff: string }) {
  const rows = useMemo(() => parseUnifiedDiff(diff), [diff]);
  return (
    <pre className="max-h-96 overflow-auto rounded-md border bg-muted/30 py-2 font-mono text-xs leading-5" data-testid="template-diff">
      {rows.map((row, i) => (
        <span
          key={i}
          data-kind={row.kind}
          className={cn(
            "block px-3",
            row.kind === "add" && "bg-[oklch(0.95_0.05_155)] text-[oklch(0.35_0.1_155)]",
            row.kind === "del" && "bg-[oklch(0.95_0.04_25)] text-[oklch(0.42_0.14_25)]",
            (row.kind === "hunk" || row.kind === "file") && "text-muted-foreground",
            row.kind === "file" && "font-semibold",
          )}
        >
          {(PREFIX[row.kind] ?? "") + row.text}
        </span>
      ))}
    </pre>
  );
}

/** An app's store template changed (an update row of kind `template`): what changed, on demand,
 * and that applying it is the user's choice. There is no Update button: nothing applies it. */
export function TemplateUpdate({ row }: { row: ImageUpdate }) {
  const app = row.app ?? "";
  const diff = row.diff ?? "";
  const stats = useMemo(() => diffStats(parseUnifiedDiff(diff)), [diff]);
  return (
    <div className="grid gap-2 px-4 py-3" data-testid={`template-update-${app}`}>
      <div className="flex flex-wrap items-baseline gap-x-2">
        <p className="font-medium" data-testid="template-update-words">
          {templateWords(row)}
        </p>
        {row.checked_at && <span className="text-xs text-muted-foreground">found {timeAgo(row.checked_at)}</span>}
      </div>
      <p className="text-sm text-muted-foreground">
        AppOS does not apply it: {app} keeps running what it runs now. Redeploying with the new template is your choice — read what changed, then make the
        changes you want in its{" "}
        <Link to="/apps/$name/compose" params={{ name: app }} className="text-primary hover:underline">
          Compose tab
        </Link>{" "}
        and deploy.
      </p>
      {diff ? (
        <details className="text-sm">
          <summary className="cursor-pointer select-none text-primary">
            What changed in the template{" "}
            <span className="font-mono text-xs">
              (<span className="text-[oklch(0.5_0.14_155)]">+{stats.added}</span> <span className="text-destructive">−{stats.removed}</span>)
            </span>
          </summary>
          <div className="mt-2">
            <DiffPre diff={diff} />
          </div>
        </details>
      ) : (
        <p className="text-sm text-muted-foreground">The store did not say what changed.</p>
      )}
    </div>
  );
}
