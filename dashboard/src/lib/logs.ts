/** Container log helpers: a colour per service, search, and the text a download holds. */

export interface LogEntry {
  key: string | number;
  text: string;
  /** The service that wrote it (shown as a coloured prefix when several are mixed). */
  service?: string;
  /** RFC 3339 time the container wrote it. */
  time?: string;
}

/** Colours readable on the log's dark background, one per service in turn. */
export const SERVICE_COLOURS = [
  "oklch(0.75 0.14 250)",
  "oklch(0.78 0.15 150)",
  "oklch(0.8 0.14 80)",
  "oklch(0.74 0.16 330)",
  "oklch(0.78 0.12 200)",
  "oklch(0.74 0.16 30)",
  "oklch(0.76 0.13 290)",
  "oklch(0.8 0.1 110)",
];

/** The colour of `service`: its place in the app's service list, so colours do not jump. */
export function serviceColour(service: string, services: string[]): string {
  let index = services.indexOf(service);
  if (index < 0) index = [...service].reduce((sum, c) => (sum * 31 + c.charCodeAt(0)) >>> 0, 0);
  return SERVICE_COLOURS[index % SERVICE_COLOURS.length];
}

/** Lines whose text (or service) contains `query`, case-insensitive; all lines for an empty query. */
export function searchLines<T extends LogEntry>(lines: T[], query: string): T[] {
  const needle = query.trim().toLowerCase();
  if (!needle) return lines;
  return lines.filter((l) => l.text.toLowerCase().includes(needle) || (l.service ?? "").toLowerCase().includes(needle));
}

/** A time as the log shows it: local "HH:MM:SS.mmm". */
export function shortTime(time: string | undefined): string {
  if (!time) return "";
  const date = new Date(time);
  if (Number.isNaN(date.getTime())) return "";
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

/** The lines as a plain-text file: "<time> <service> | <text>" when asked for, one per line. */
export function logText(lines: LogEntry[], { times = true, services = true } = {}): string {
  return lines
    .map((l) => {
      const head = [times && l.time ? l.time : "", services && l.service ? `${l.service} |` : ""].filter(Boolean).join(" ");
      return head ? `${head} ${l.text}` : l.text;
    })
    .join("\n")
    .concat(lines.length ? "\n" : "");
}

/** Offers `text` as a file download. */
export function download(filename: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
