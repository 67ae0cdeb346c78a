/**
 * The signed-in session: the access token in localStorage (key `appos_token`, the one the gateway's
 * /docs page reads too) with its expiry, and a notice for the login page when a session ends by itself.
 */

const TOKEN_KEY = "appos_token";
const EXPIRES_KEY = "appos_token_expires";
const NOTICE_KEY = "appos_login_notice";

export const EXPIRED_NOTICE = "Your session has expired. Sign in again.";

type Listener = () => void;
const listeners = new Set<Listener>();
let expiryTimer: ReturnType<typeof setTimeout> | undefined;

function emit() {
  for (const listener of listeners) listener();
}

function scheduleExpiry() {
  if (expiryTimer) clearTimeout(expiryTimer);
  expiryTimer = undefined;
  const raw = localStorage.getItem(EXPIRES_KEY);
  if (!raw) return;
  const wait = Number(raw) - Date.now();
  // setTimeout overflows past ~24.8 days; such a token is checked again on the next load.
  if (wait > 0 && wait < 2 ** 31 - 1) expiryTimer = setTimeout(() => expireSession(), wait);
}

export function getToken(): string | null {
  const token = localStorage.getItem(TOKEN_KEY);
  if (!token) return null;
  const expires = Number(localStorage.getItem(EXPIRES_KEY) ?? "0");
  if (expires && expires <= Date.now()) {
    expireSession();
    return null;
  }
  return token;
}

/** Stores a new token; `expiresIn` is in seconds (0: unknown). */
export function setToken(token: string, expiresIn = 0) {
  localStorage.setItem(TOKEN_KEY, token);
  if (expiresIn > 0) localStorage.setItem(EXPIRES_KEY, String(Date.now() + expiresIn * 1000));
  else localStorage.removeItem(EXPIRES_KEY);
  sessionStorage.removeItem(NOTICE_KEY);
  scheduleExpiry();
  emit();
}

export function clearToken(notice?: string) {
  const had = localStorage.getItem(TOKEN_KEY) !== null;
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(EXPIRES_KEY);
  if (expiryTimer) clearTimeout(expiryTimer);
  expiryTimer = undefined;
  if (notice) sessionStorage.setItem(NOTICE_KEY, notice);
  if (had) emit();
}

let renewals = 0;

/** While `work` replaces the session (a password change ends the old one on the server, then the
 * console signs in again), a refusal of the old token does not sign the console out. */
export async function renewingSession<T>(work: () => Promise<T>): Promise<T> {
  renewals += 1;
  try {
    return await work();
  } finally {
    renewals -= 1;
  }
}

export function isRenewingSession(): boolean {
  return renewals > 0;
}

/** The token was refused or ran out: back to the login page with a word on why. */
export function expireSession(notice: string = EXPIRED_NOTICE, { force = false } = {}) {
  if (renewals > 0 && !force) return;
  clearToken(notice);
}

/** The notice for the login page, once. */
export function takeLoginNotice(): string | null {
  const notice = sessionStorage.getItem(NOTICE_KEY);
  sessionStorage.removeItem(NOTICE_KEY);
  return notice;
}

export function peekLoginNotice(): string | null {
  return sessionStorage.getItem(NOTICE_KEY);
}

export function onSessionChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

scheduleExpiry();
