import { useMemo } from "react";
import { diffStats, parseUnifiedDiff } from "@/lib/diff";
import { cn } from "@/lib/utils";

/** A unified diff, coloured, with old and new line numbers. */
export function DiffView({ title, diff }: { title: string; diff: string }) {
  const rows = useMemo(() => parseUnifiedDiff(diff), [diff]);
  const stats = diffStats(rows);
  return (
    <section className="overflow-hidden rounded-lg border bg-card">
      <header className="flex items-center justify-between border-b bg-muted/50 px-3 py-2 text-sm">
        <span className="font-medium">{title}</span>
        <span className="font-mono text-xs">
          <span className="text-[oklch(0.5_0.14_155)]">+{stats.added}</span> <span className="text-destructive">−{stats.removed}</span>
        </span>
      </header>
      {rows.length === 0 ? (
        <p className="px-3 py-4 text-sm text-muted-foreground">No changes.</p>
      ) : (
        <div className="overflow-x-auto">
          <table className="w-full border-collapse font-mono text-xs leading-5">
            <tbody>
              {rows
                .filter((row) => row.kind !== "file")
                .map((row, i) => (
                  <tr
                    key={i}
                    data-kind={row.kind}
                    className={cn(
                      row.kind === "add" && "bg-[oklch(0.95_0.05_155)]",
                      row.kind === "del" && "bg-[oklch(0.95_0.04_25)]",
                      row.kind === "hunk" && "bg-primary/5 text-muted-foreground",
                    )}
                  >
                    <td className="w-10 select-none px-2 text-right text-muted-foreground/70">{row.oldLine ?? ""}</td>
                    <td className="w-10 select-none px-2 text-right text-muted-foreground/70">{row.newLine ?? ""}</td>
                    <td className="w-4 select-none text-center">{row.kind === "add" ? "+" : row.kind === "del" ? "−" : ""}</td>
                    <td className="pr-3 whitespace-pre">{row.text}</td>
                  </tr>
                ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
