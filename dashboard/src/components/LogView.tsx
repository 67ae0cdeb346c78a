import { useEffect, useRef, type ReactNode } from "react";
import { serviceColour, shortTime } from "@/lib/logs";
import { cn } from "@/lib/utils";

export interface LogLine {
  key: string | number;
  text: string;
  /** A plain prefix (a deployment's step, …). */
  prefix?: string;
  /** The service that wrote the line: a prefix in the service's colour. */
  service?: string;
  /** RFC 3339; shown when `showTime`. */
  time?: string;
}

interface LogViewProps {
  lines: LogLine[];
  testId?: string;
  className?: string;
  empty?: ReactNode;
  /** Long lines wrap (default) or scroll sideways. */
  wrap?: boolean;
  showTime?: boolean;
  /** Every service of the app, in order: each keeps its colour whatever the filter. */
  services?: string[];
  /** Text to highlight in each line. */
  highlight?: string;
}

function Highlighted({ text, needle }: { text: string; needle: string }) {
  if (!needle) return <>{text}</>;
  const lower = text.toLowerCase();
  const parts: ReactNode[] = [];
  let at = 0;
  for (let i = lower.indexOf(needle); i >= 0; i = lower.indexOf(needle, at)) {
    parts.push(text.slice(at, i), <mark key={i} className="rounded-sm bg-[oklch(0.75_0.15_85)] text-black">{text.slice(i, i + needle.length)}</mark>);
    at = i + needle.length;
  }
  parts.push(text.slice(at));
  return <>{parts}</>;
}

/** A scrolling, monospace log that stays at the bottom while new lines arrive (unless scrolled up). */
export function LogView({ lines, testId, className, empty = "No lines yet.", wrap = true, showTime = false, services = [], highlight = "" }: LogViewProps) {
  const box = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  const needle = highlight.trim().toLowerCase();

  useEffect(() => {
    const el = box.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [lines]);

  return (
    <div
      ref={box}
      data-testid={testId}
      data-wrap={wrap ? "on" : "off"}
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
          <div key={line.key} data-testid="log-line" className={wrap ? "whitespace-pre-wrap break-all" : "w-max whitespace-pre"}>
            {showTime && line.time && (
              <time dateTime={line.time} title={line.time} data-testid="log-time" className="mr-2 text-[oklch(0.6_0.01_270)]">
                {shortTime(line.time)}
              </time>
            )}
            {line.service && (
              <span data-testid="log-service" className="mr-2 font-semibold" style={{ color: serviceColour(line.service, services) }}>
                {line.service} |
              </span>
            )}
            {line.prefix && <span className="mr-2 text-[oklch(0.7_0.12_277)]">{line.prefix}</span>}
            <Highlighted text={line.text} needle={needle} />
          </div>
        ))
      )}
    </div>
  );
}
