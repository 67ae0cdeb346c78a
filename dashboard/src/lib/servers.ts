/** Servers (issue 21) as the console shows them: their queries, a status in words, what a server's
 * error means and what to do next, and the Add form's checks (the deployer's rules, so a typo is
 * caught before a minute of SSH checks). The machine AppOS runs on is the server `local`. */
import { queryOptions } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "@/api/client";
import { formatBytes } from "@/lib/format";

export type Server = Schemas["Server"];
export type ServerKey = Schemas["ServerKey"];

export const LOCAL = "local";
const RESERVED = [LOCAL, "key"];

/** No event carries a server's status (its probes are the deployer's own): the list is read again
 * this often while it is on screen. server_added, server_removed and server_host_key_pinned
 * refresh it at once (liveQueries.ts). */
export const SERVERS_REFRESH_MS = 10_000;

export const serversQuery = queryOptions({
  queryKey: ["servers"],
  queryFn: () => unwrap(api.GET("/api/v1/servers")),
  refetchInterval: SERVERS_REFRESH_MS,
});

/** AppOS's public SSH key (admin); it never changes while AppOS runs. */
export const serverKeyQuery = queryOptions({
  queryKey: ["server-key"],
  queryFn: () => unwrap(api.GET("/api/v1/servers/key")),
  staleTime: Infinity,
});

const STATUS_WORDS: Record<string, string> = {
  local: "this machine",
  up: "up",
  connecting: "connecting",
  down: "down",
};

export function statusWords(status: string | undefined): string {
  return STATUS_WORDS[status ?? ""] ?? (status || "unknown");
}

/** "Docker 27.3.1 (API 1.47)"; "—" before the engine first answered. */
export function engineWords(server: Pick<Server, "engine_version" | "api_version">): string {
  if (!server.engine_version) return "—";
  return server.api_version ? `Docker ${server.engine_version} (API ${server.api_version})` : `Docker ${server.engine_version}`;
}

/** "4 CPUs, 7.8 GiB"; "—" when the engine has not said. */
export function capacityWords(server: Pick<Server, "cpus" | "memory_bytes">): string {
  const cpus = server.cpus ?? 0;
  const memory = Number(server.memory_bytes ?? 0);
  const parts = [cpus ? `${cpus} ${cpus === 1 ? "CPU" : "CPUs"}` : "", memory > 0 ? formatBytes(memory) : ""].filter(Boolean);
  return parts.join(", ") || "—";
}

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Why a server name would be refused, or null. */
export function validateServerName(name: string): string | null {
  if (!name) return "Give the server a name.";
  if (!DNS_LABEL.test(name)) return "Lowercase letters, digits and '-', at most 63, not starting or ending with '-'.";
  if (RESERVED.includes(name)) return `“${name}” is reserved; choose another name.`;
  return null;
}

const ADDRESS = /^ssh:\/\/([^@/?#]*)@(\[[0-9A-Fa-f:.]+\]|[^:/?#[\]@]+)(?::(\d*))?\/?$/;
const USER = /^[a-z_][a-z0-9_.-]{0,31}$/;

/** Why an address would be refused, or null: it is `ssh://user@host[:port]`. The server checks it
 * again (and the host itself). */
export function validateServerAddress(address: string): string | null {
  const text = address.trim();
  if (!text) return "Give the server's address: ssh://user@host:port.";
  if (text.startsWith("tcp://")) return "Docker over TLS (tcp://) is not supported yet; use ssh://user@host:port.";
  if (!text.startsWith("ssh://")) return "The address starts with ssh://, as in ssh://deploy@203.0.113.7:22.";
  const match = ADDRESS.exec(text);
  if (!match) return "The address is ssh://user@host:port (port 22 when left out), with nothing after it.";
  if (!USER.test(match[1])) return "The address needs the user AppOS signs in as, in lowercase: ssh://user@host:port.";
  const port = match[3];
  if (port !== undefined && !(Number(port) >= 1 && Number(port) <= 65535)) return "The SSH port is a number from 1 to 65535.";
  return null;
}

/** Why a Docker socket path would be refused, or null ("" means the default). */
export function validateDockerSocket(path: string): string | null {
  const text = path.trim();
  if (!text) return null;
  if (!/^\/[A-Za-z0-9._/-]{1,200}$/.test(text) || `${text}/`.includes("/../")) return "An absolute path on the server, like /var/run/docker.sock.";
  return null;
}

export interface ServerProblem {
  /** What is wrong, in one sentence. */
  summary: string;
  /** What to do about it. */
  next: string;
  /** The host key changed: Re-pin is the fix, once the change is known to be a reinstall. */
  hostKey?: boolean;
}

function sentence(text: string): string {
  const trimmed = text.trim().replace(/\s+/g, " ").replace(/^ssh\b/, "SSH");
  const first = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

/** A server's `error` in plain words with the next step; null when there is none. */
export function serverProblem(error: string | undefined): ServerProblem | null {
  const text = (error ?? "").trim();
  if (!text || text === "connecting") return null;
  return explainServerError(text) ?? { summary: sentence(text), next: "AppOS keeps trying; this page shows the server as AppOS last saw it." };
}

/** What the deployer says of SSH, the host key and Docker (a server's error, or why an Add was
 * refused) in plain words with the next step; null for a message it does not know. Its messages
 * name REST paths for API users; the console names its own buttons instead. */
export function explainServerError(text: string): ServerProblem | null {
  const hostKey = /^the host key of (\S+) is not the one pinned/.exec(text);
  if (hostKey) {
    return {
      summary: `The host key of ${hostKey[1]} is not the one AppOS pinned when the server was added, so AppOS does not connect.`,
      next:
        "If the server was reinstalled (or its SSH host keys were made again), check the new key's fingerprint on the server, then Re-pin (admins). If not, someone may be between AppOS and the server: do not re-pin.",
      hostKey: true,
    };
  }
  const refused = /^(\S+)@(\S+) refused AppOS's key/.exec(text);
  if (refused) {
    return {
      summary: `${refused[1]}@${refused[2]} refused AppOS's SSH key.`,
      next: `Add AppOS's public key (under "AppOS's SSH key") to ~${refused[1]}/.ssh/authorized_keys on the server.`,
    };
  }
  const noSsh = /^(?:nothing accepts SSH connections at|no SSH server answered at) (\S+)/.exec(text);
  if (noSsh) {
    return {
      summary: `Nothing accepts SSH connections at ${noSsh[1]}.`,
      next: "Check the host and port, that the SSH server runs there, and that a firewall lets this machine in.",
    };
  }
  const unreachable = /^(\S+) (?:cannot be reached|did not answer within)/.exec(text);
  if (unreachable) {
    return {
      summary: sentence(text),
      next: "Check that the server is on and that this machine can reach it.",
    };
  }
  const docker = /^no Docker answers at (\S+) on the server \(is it running, and may (\S+) use its socket\?\)/.exec(text);
  if (docker) {
    return {
      summary: `No Docker answers at ${docker[1]} on the server.`,
      next: `Check that Docker runs there and that ${docker[2]} may use its socket (for instance, is in the docker group), or give the socket's path when adding the server.`,
    };
  }
  if (/^the server refused to forward its Docker socket/.exec(text)) {
    return {
      summary: sentence(text),
      next: "Allow it in the server's /etc/ssh/sshd_config (AllowStreamLocalForwarding yes), restart its SSH server, then try again.",
    };
  }
  if (/Docker speaks API .* AppOS needs/.test(text)) {
    return { summary: sentence(text), next: "Upgrade Docker on the server, then add it again." };
  }
  if (/^Docker does not answer/.test(text)) {
    return { summary: "Docker on this machine does not answer.", next: "See System for what is down; apps on this machine cannot be deployed until it answers." };
  }
  return null;
}

/** The host an app's published ports answer at: `here` for `local` (or no server), else the host of
 *  the server's `ssh://user@host:port` address; null when the list has no such server. */
export function serverHost(server: string | undefined, servers: Pick<Server, "name" | "address">[] | undefined, here: string): string | null {
  if (!server || server === LOCAL) return here;
  const found = servers?.find((s) => s.name === server);
  const match = found?.address ? /^ssh:\/\/[^@/]+@(\[[^\]]+\]|[^:/]+)/.exec(found.address) : null;
  return match ? match[1].replace(/^\[|\]$/g, "") : null;
}

