/** One error type for every failed API call, with a message fit to show a person. */

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly requestId: string;

  constructor(status: number, code: string, message: string, requestId = "") {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

const STATUS_WORDS: Record<number, string> = {
  400: "The request was not valid.",
  401: "You are not signed in.",
  403: "Your role does not allow this.",
  404: "Not found.",
  409: "Someone changed this meanwhile; reload and try again.",
  413: "That is too large.",
  428: "The edit needs the version it is based on.",
  429: "Too many attempts; wait a minute.",
  500: "The server failed; see its logs.",
  502: "The AppOS gateway cannot be reached.",
  503: "A part of AppOS is unavailable right now.",
  504: "The server took too long to answer.",
};

function isErrorBody(value: unknown): value is { code?: unknown; message?: unknown; request_id?: unknown } {
  return typeof value === "object" && value !== null;
}

/** Builds an ApiError from a response and its body (already parsed JSON, text, or nothing). */
export function toApiError(status: number, body: unknown, statusText = ""): ApiError {
  if (isErrorBody(body) && typeof body.message === "string" && body.message) {
    return new ApiError(
      status,
      typeof body.code === "string" ? body.code : "error",
      body.message,
      typeof body.request_id === "string" ? body.request_id : "",
    );
  }
  const word = STATUS_WORDS[status] ?? `The server answered ${status}${statusText ? ` ${statusText}` : ""}.`;
  return new ApiError(status, "http_" + status, word);
}

const READS = new Set(["GET", "HEAD", "OPTIONS"]);

/** The failure of fetch itself: the server down, the connection refused — or dropped on the way (on
 * a Docker host Chromium drops requests in flight whenever Docker creates a network), in which case a
 * change asked for (any method but a read) may well have been made. */
export function networkError(cause: unknown, method = "GET"): ApiError {
  const message = READS.has(method.toUpperCase())
    ? "Cannot reach the AppOS server. Is it running?"
    : "AppOS did not answer (it is down, or the connection dropped on the way): what you asked may have been done. Reload the page to see, and try again only if it was not.";
  const error = new ApiError(0, "network", message);
  (error as { cause?: unknown }).cause = cause;
  return error;
}

/** A readable message for anything thrown. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

/** What kind of trouble a message describes, when it is one a person can act on in a known way. */
export type ProblemKind = "image_pull" | "port_in_use" | "name_unresolved" | "webhook_unreachable" | "stale_edit" | "other";

export interface Explained {
  kind: ProblemKind;
  /** One plain sentence: what went wrong, without internal words. */
  summary: string;
  /** The full text as the server gave it, the error code and request id: shown on demand. */
  detail: string;
  requestId: string;
  image?: string;
  port?: string;
  holder?: string;
}

// Internal words that never belong in the sentence a person reads first.
const INTERNAL = /\s*\((?:gaierror|ConnectError|ConnectTimeout|ReadTimeout|OSError|[A-Za-z]+(?:Error|Exception))\)|\b(?:gaierror|ConnectError)\b:?\s*/g;

function sentence(text: string): string {
  const trimmed = text.trim().replace(/\s+/g, " ");
  if (!trimmed) return trimmed;
  const first = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

/** A message (an API error, or a deployment's reason) as a plain summary and its detail. */
export function explainError(error: unknown): Explained {
  const message = typeof error === "string" ? error : errorMessage(error);
  const requestId = error instanceof ApiError ? error.requestId : "";
  const code = error instanceof ApiError ? error.code : "";
  const detail = [message, code && `code: ${code}`, requestId && `request id ${requestId}`].filter(Boolean).join("\n");
  const base = { detail, requestId };

  const pull = /images? (\S+?)(?:, \S+)* (?:was|were) not found or the registry cannot be reached/.exec(message);
  if (pull) {
    return { ...base, kind: "image_pull", image: pull[1], summary: `The image ${pull[1]} was not found, or its registry cannot be reached.` };
  }
  const port = /host port (\d+)(?:\/udp)? is already in use by (.+?)(?:;|\. Choose|$)/.exec(message);
  if (port) {
    const holder = port[2].replace(/ \(Docker container [^)]*\)/, "");
    return { ...base, kind: "port_in_use", port: port[1], holder, summary: `Port ${port[1]} is already in use by ${holder}. Choose another host port.` };
  }
  const dns = /^(\S+) does not resolve/.exec(message);
  if (dns) {
    return { ...base, kind: "name_unresolved", summary: `${dns[1]} does not point to an address yet. Add a DNS A/AAAA record for it pointing at this server, then try again.` };
  }
  const stale = /^stale edit: (\S+) is at v(\d+)/.exec(message);
  if (stale) {
    return {
      ...base,
      kind: "stale_edit",
      summary: `Version ${stale[2]} of ${stale[1]} was saved while you were editing. Keep your edits to save them on top of it, or load version ${stale[2]}.`,
    };
  }
  const hook = /^could not connect: (.+)$/.exec(message);
  if (hook) {
    // older deliveries recorded only the exception's class name ("ConnectError")
    const why = /^[A-Z]\w*(?:Error|Exception|Timeout)$/.test(hook[1].trim()) ? "the connection failed" : hook[1];
    return { ...base, kind: "webhook_unreachable", summary: sentence(`The webhook cannot be reached: ${why}`) };
  }
  return { ...base, kind: "other", summary: message.replace(INTERNAL, " ").replace(/\s+/g, " ").trim() || "Something went wrong." };
}
