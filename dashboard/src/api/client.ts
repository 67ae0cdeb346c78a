/**
 * The typed REST client: openapi-fetch over the types generated from the gateway's OpenAPI
 * document (`npm run gen:api`). It adds the bearer token, turns every failure into an ApiError with
 * the server's message, and ends the session when the server says the token is no longer good.
 */
import createClient, { type Middleware } from "openapi-fetch";
import { ApiError, networkError, toApiError } from "./errors";
import type { components, paths } from "./schema";
import { expireSession, getToken } from "./session";

export type Schemas = components["schemas"];
export type App = Schemas["App"];
export type AppService = Schemas["AppService"];
export type Deployment = Schemas["Deployment"];
export type Template = Schemas["Template"];
export type SettingSpec = Schemas["SettingSpec"];
export type ConfigVersion = Schemas["ConfigVersion"];
export type User = Schemas["User"];
export type ApiToken = Schemas["ApiToken"];
export type Domain = Schemas["Domain"];
export type Certificate = Schemas["Certificate"];
export type Health = Schemas["Health"];
export type SystemInfo = Schemas["Info"];

const LOGIN_PATH = "/api/v1/auth/login";

export const authMiddleware: Middleware = {
  onRequest({ request }) {
    const token = getToken();
    if (token && !request.headers.has("Authorization")) request.headers.set("Authorization", `Bearer ${token}`);
    return request;
  },
  onResponse({ request, response }) {
    // A refused token (expired, revoked, user changed): the session is over. A wrong password at
    // login is also 401 but says nothing about a session.
    // Only when it was the current token: a call sent before a new sign-in (a password change
    // signs in again) says nothing about the new session.
    const sent = request.headers.get("Authorization");
    if (response.status === 401 && sent && !new URL(request.url).pathname.endsWith(LOGIN_PATH) && sent === `Bearer ${getToken()}`)
      expireSession();
    return response;
  },
  onError({ request, error }) {
    // what the request was says what a lost answer means (a change may have been made); unwrap keeps it
    return request.signal.aborted ? undefined : networkError(error, request.method);
  },
};

export function makeClient(options: { baseUrl?: string; fetch?: typeof fetch } = {}) {
  const baseUrl = options.baseUrl ?? (typeof window !== "undefined" ? window.location.origin : "http://localhost");
  const client = createClient<paths>({ baseUrl, fetch: options.fetch });
  client.use(authMiddleware);
  return client;
}

export const api = makeClient({ fetch: (...args) => globalThis.fetch(...args) });

type Result<T> = { data?: T; error?: unknown; response: Response };

/** Awaits an openapi-fetch call: its data, or an ApiError with a readable message. */
export async function unwrap<T>(call: Promise<Result<T>>): Promise<T> {
  let result: Result<T>;
  try {
    result = await call;
  } catch (cause) {
    if (cause instanceof ApiError) throw cause;
    throw networkError(cause);
  }
  const { data, error, response } = result;
  if (!response.ok || error !== undefined) throw toApiError(response.status, error, response.statusText);
  return data as T;
}

/** Plain fetch with the same token and error handling, for what the generated client cannot say
 * (streams, headers such as ETag). */
export async function apiFetch(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const token = getToken();
  if (token) headers.set("Authorization", `Bearer ${token}`);
  let response: Response;
  try {
    response = await fetch(path, { ...init, headers });
  } catch (cause) {
    if (init.signal?.aborted) throw cause;
    throw networkError(cause, init.method);
  }
  if (response.status === 401 && token && !path.endsWith(LOGIN_PATH) && token === getToken()) expireSession();
  if (!response.ok) {
    let body: unknown = undefined;
    try {
      body = await response.json();
    } catch {
      body = undefined;
    }
    throw toApiError(response.status, body, response.statusText);
  }
  return response;
}

/** The WebSocket URL of a gateway path, on this page's origin. */
export function wsUrl(path: string): string {
  const { protocol, host } = window.location;
  return `${protocol === "https:" ? "wss" : "ws"}://${host}${path}`;
}

/** Subprotocols that carry the token (the gateway reads `bearer.<token>`; never in the URL). */
export function wsProtocols(): string[] {
  const token = getToken();
  return token ? ["appos.v1", `bearer.${token}`] : ["appos.v1"];
}
