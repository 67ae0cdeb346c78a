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
const TLS_ADDRESS = /^tcp:\/\/(\[[0-9A-Fa-f:.]+\]|[^:/?#[\]@]+)(?::(\d*))?\/?$/;
const USER = /^[a-z_][a-z0-9_.-]{0,31}$/;

/** Whether the address is a Docker engine over TLS (`tcp://…`): the form then asks for the CA,
 * AppOS's client certificate and its key instead of a socket path. */
export function isTlsAddress(address: string): boolean {
  return address.trim().startsWith("tcp://");
}

function validPort(port: string | undefined): boolean {
  return port === undefined || (Number(port) >= 1 && Number(port) <= 65535);
}

/** Why an address would be refused, or null: it is `ssh://user@host[:port]` or `tcp://host[:port]`.
 * The server checks it again (and the host itself). */
export function validateServerAddress(address: string): string | null {
  const text = address.trim();
  if (!text) return "Give the server's address: ssh://user@host:port (or tcp://host:2376 for Docker over TLS).";
  if (isTlsAddress(text)) {
    const tls = TLS_ADDRESS.exec(text);
    if (!tls) return "A TLS address is tcp://host:port (port 2376 when left out), with nothing after it.";
    if (!validPort(tls[2])) return "The port is a number from 1 to 65535.";
    return null;
  }
  if (!text.startsWith("ssh://")) return "The address starts with ssh:// (or tcp:// for Docker over TLS), as in ssh://deploy@203.0.113.7:22.";
  const match = ADDRESS.exec(text);
  if (!match) return "The address is ssh://user@host:port (port 22 when left out), with nothing after it.";
  if (!USER.test(match[1])) return "The address needs the user AppOS signs in as, in lowercase: ssh://user@host:port.";
  if (!validPort(match[3])) return "The SSH port is a number from 1 to 65535.";
  return null;
}

export type PemKind = "ca" | "cert" | "key";
const PEM_WORDS: Record<PemKind, string> = { ca: "the CA certificate", cert: "AppOS's client certificate", key: "the client certificate's key" };

/** Why a pasted PEM would be refused, or null (a first look: the server parses it and checks that
 * the key is the certificate's). The key is never shown back. */
export function validatePem(kind: PemKind, text: string): string | null {
  const pem = text.trim();
  if (!pem) return `Paste ${PEM_WORDS[kind]} (PEM); Docker over TLS needs all three.`;
  if (kind === "key") {
    if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(pem)) return "The key is encrypted; give it without a passphrase.";
    if (!/^-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]+-----END [A-Z ]*PRIVATE KEY-----$/.test(pem)) return "A private key in PEM: -----BEGIN PRIVATE KEY----- … -----END PRIVATE KEY-----.";
    return null;
  }
  if (!/^-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----$/.test(pem)) return "A certificate in PEM: -----BEGIN CERTIFICATE----- … -----END CERTIFICATE-----.";
  return null;
}

/** What a server's pinned fingerprint is of, in words: a TLS engine's certificate, or an SSH host key. */
export function identityWords(server: Pick<Server, "transport">): string {
  return server.transport === "tls" ? "certificate" : "host key";
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
  const tls = explainTlsError(text);
  if (tls) return tls;
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

/** What the deployer says of a Docker engine over TLS, in plain words with the next step. */
function explainTlsError(text: string): ServerProblem | null {
  const changed = /^the certificate of the engine at (\S+) is not the one pinned/.exec(text);
  if (changed) {
    return {
      summary: `The certificate of the engine at ${changed[1]} is not the one AppOS pinned when the server was added, so AppOS does not connect.`,
      next:
        "If the engine's certificate was renewed on purpose, check its SHA-256 fingerprint on the server (openssl x509 -noout -fingerprint -sha256 -in its --tlscert), then Re-pin (admins). If not, someone may be between AppOS and the engine: do not re-pin.",
      hostKey: true,
    };
  }
  if (/refused AppOS's client certificate/.test(text)) {
    return { summary: sentence(text.replace(/ \(cert_pem\).*$/, "")), next: "Give a client certificate signed by the CA the engine trusts (its --tlscacert), with its key." };
  }
  if (/is not signed by the CA given/.test(text)) {
    return { summary: sentence(text.replace(/ \(ca_pem\).*$/, "")), next: "Give the CA certificate that signed the engine's certificate." };
  }
  if (/is not made out to/.test(text)) {
    return { summary: sentence(text.replace(/:.*$/, "")), next: "Use the host name or IP address the engine's certificate names." };
  }
  const nothing = /^nothing accepts connections at (\S+)/.exec(text);
  if (nothing) {
    return { summary: `Nothing accepts connections at ${nothing[1]}.`, next: "Check the host and port, and that dockerd listens there with --tlsverify (-H tcp://0.0.0.0:2376)." };
  }
  if (/does not speak TLS/.test(text)) {
    return { summary: sentence(text.replace(/ \(.*$/, "")), next: "Make the engine listen with --tlsverify and its certificates: AppOS does not use Docker without TLS." };
  }
  return null;
}

/** The host an app's published ports answer at: `here` for `local` (or no server), else the host of
 *  the server's `ssh://user@host:port` or `tcp://host:port` address; null when the list has no such server. */
export function serverHost(server: string | undefined, servers: Pick<Server, "name" | "address">[] | undefined, here: string): string | null {
  if (!server || server === LOCAL) return here;
  const found = servers?.find((s) => s.name === server);
  const match = found?.address ? /^(?:ssh:\/\/[^@/]+@|tcp:\/\/)(\[[^\]]+\]|[^:/]+)/.exec(found.address) : null;
  return match ? match[1].replace(/^\[|\]$/g, "") : null;
}

