import type { App } from "@/api/client";

/** The web UI's published binding: host port and container port of the app's web service.
 * `web_port` may name either (a template's container port, or the host port it was given). */
export function webBinding(app: App): { host: number; container: number } | null {
  if (!app.web_service) return null;
  const service = (app.services ?? []).find((s) => s.service === app.web_service);
  const bindings = (service?.ports ?? [])
    .map((port) => /:(\d+)->(\d+)\//.exec(port))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ host: Number(m[1]), container: Number(m[2]) }));
  return bindings.find((b) => b.host === app.web_port || b.container === app.web_port) ?? bindings[0] ?? null;
}

/** The URL where the app's web UI answers on this host, if it publishes one. */
export function webUrl(app: App, location: Pick<Location, "protocol" | "hostname"> = window.location): string | null {
  const binding = webBinding(app);
  return binding ? `http://${location.hostname}:${binding.host}/` : null;
}

/** The URL a published TCP port answers at on this host ("0.0.0.0:8080->80/tcp" → http://host:8080/),
 *  or null for a port that is not published on the host (or is UDP). */
export function portUrl(port: string, location: Pick<Location, "hostname"> = window.location): string | null {
  const match = /:(\d+)->\d+\/tcp$/.exec(port);
  if (!match) return null;
  const host = location.hostname.includes(":") ? `[${location.hostname}]` : location.hostname;
  return `http://${host}:${match[1]}/`;
}
