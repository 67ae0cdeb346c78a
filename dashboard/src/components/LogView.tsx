import { useEffect, useRef, type ReactNode } from "react";
import { cn } from "@/lib/utils";

export interface LogLine {
  key: string | number;
  text: string;
  prefix?: string;
}

/** A scrolling, monospace log that stays at the bottom while new lines arrive (unless scrolled up). */
export function LogView({ lines, testId, className, empty = "No lines yet." }: { lines: LogLine[]; testId?: string; className?: string; empty?: ReactNode }) {
  const box = useRef<HTMLDivElement>(null);
  const stick = useRef(true);

  useEffect(() => {
    const el = box.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [lines]);

  return (
    <div
      ref={box}
      data-testid={testId}
      role="log"
      aria-live="polite"
      onScroll={(e) => {
        const el = e.currentTarget;
        stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
      }}
      className={cn("h-[28rem] max-h-[65vh] overflow-auto rounded-lg bg-[oklch(0.18_0.01_270)] p-3 font-mono text-xs leading-5 text-[oklch(0.9_0.01_270)]", className)}
    >
      {lines.length === 0 ? (
        <div className="text-[oklch(0.6_0.01_270)]">{empty}</div>
      ) : (
        lines.map((line) => (
          <div key={line.key} className="whitespace-pre-wrap break-all">
            {line.prefix && <span className="mr-2 text-[oklch(0.7_0.12_277)]">{line.prefix}</span>}
            {line.text}
          </div>
        ))
      )}
    </div>
  );
}
