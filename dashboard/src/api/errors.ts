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

/** The failure of fetch itself (server down, connection refused). */
export function networkError(cause: unknown): ApiError {
  const error = new ApiError(0, "network", "Cannot reach the AppOS server. Is it running?");
  (error as { cause?: unknown }).cause = cause;
  return error;
}

/** A readable message for anything thrown. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}
