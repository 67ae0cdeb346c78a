/**
 * The "new app from a compose file" form: its first values, the checks made before sending, the
 * `POST /api/v1/apps` body, and which field a server refusal (400 `{code,message,request_id}`) is
 * about, so the message shows next to it.
 */
import { ApiError } from "@/api/errors";
import { exceptionsPayload, NO_EXCEPTIONS, reasonError, validateExceptions, type ExceptionFields } from "@/lib/appOptions";
import type { ComposeCheckInput } from "@/lib/composeCheck";
import { validateAppName } from "@/lib/settingsForm";

export const STARTER_COMPOSE = `services:
  web:
    image: nginx:alpine
    ports:
      - "127.0.0.1:8180:80"
`;

export interface ComposeAppValues {
  name: string;
  compose: string;
  env: string;
  message: string;
  autoRollback: boolean;
  /** Admin only: the policy exceptions to allow (rules checked, capabilities, host paths and keys as typed). */
  exceptions: ExceptionFields;
  /** Why the exceptions are needed (the API has no field for it: it goes into the version message). */
  reason: string;
}

export type ComposeField = "name" | "compose" | "env" | "allow";
export type ComposeErrors = Partial<Record<ComposeField, string>>;

export function initialComposeValues(): ComposeAppValues {
  return { name: "", compose: STARTER_COMPOSE, env: "", message: "", autoRollback: true, exceptions: NO_EXCEPTIONS, reason: "" };
}

const ENV_LINE = /^(export\s+)?[A-Za-z_][A-Za-z0-9_]*\s*=/;

/** The first .env line that is neither empty, a comment, nor KEY=value (as the server reads it). */
export function envLineError(env: string): string | null {
  const lines = env.split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line || line.startsWith("#")) continue;
    if (!ENV_LINE.test(line)) return `.env line ${i + 1} is not KEY=value.`;
  }
  return null;
}

/** What would certainly be refused, per field; empty when the form may be sent. */
export function validateComposeApp(values: ComposeAppValues, isAdmin: boolean): ComposeErrors {
  const errors: ComposeErrors = {};
  const name = validateAppName(values.name);
  if (name) errors.name = name;
  if (!values.compose.trim()) errors.compose = "Paste or write a compose file.";
  const env = envLineError(values.env);
  if (env) errors.env = env;
  if (isAdmin) {
    const allow = exceptionsPayload(values.exceptions);
    const bad = validateExceptions(allow) ?? reasonError(allow, values.reason);
    if (bad) errors.allow = bad;
  }
  return errors;
}

export interface CreateFromCompose {
  name: string;
  compose: string;
  env: string;
  message: string;
  auto_rollback: boolean;
  allow?: string[];
}

/** The request body. Exceptions go only from an admin, with the reason kept in version 1's message. */
export function composeAppPayload(values: ComposeAppValues, isAdmin: boolean): CreateFromCompose {
  const body: CreateFromCompose = {
    name: values.name,
    compose: values.compose,
    env: values.env,
    message: values.message.trim(),
    auto_rollback: values.autoRollback,
  };
  const allow = isAdmin ? exceptionsPayload(values.exceptions) : [];
  if (allow.length) {
    body.allow = allow;
    const why = `policy exceptions ${allow.join(", ")}: ${values.reason.trim()}`;
    body.message = body.message ? `${body.message} (${why})` : why;
  }
  return body;
}

/** The field a server refusal is about (its message names it), or null for a general one. */
export function fieldOfServerError(error: unknown): ComposeField | null {
  if (!(error instanceof ApiError)) return null;
  const message = error.message.toLowerCase();
  if (error.code === "already_exists" || message.startsWith("app name") || message.includes("app name")) return "name";
  // a refusal of the file names the exceptions an admin could grant: still the file's error
  if (message.startsWith("compose")) return "compose";
  if (message.includes("policy exception") || error.code === "permission_denied") return "allow";
  if (message.startsWith(".env") || message.includes("setting values") || message.includes("not a valid variable name") || message.startsWith("the value of")) return "env";
  if (message.includes("compose")) return "compose";
  return null;
}

/** What the live check sends for the form as it is (`POST /api/v1/apps:validate`), or null with
 * the reason when there is nothing to check yet. The check uses the name (an existing app's name
 * is checked as an edit of it) and, for an admin, the exceptions asked for. */
export function liveCheckOf(values: ComposeAppValues, isAdmin: boolean): { input: ComposeCheckInput | null; waiting: string } {
  if (validateAppName(values.name)) return { input: null, waiting: "Name the app to have the file checked as you type." };
  if (!values.compose.trim()) return { input: null, waiting: "Write or paste a compose file to have it checked." };
  const allow = isAdmin ? exceptionsPayload(values.exceptions) : [];
  if (validateExceptions(allow)) return { input: null, waiting: "Fix the policy exceptions to have the file checked." };
  return { input: { name: values.name, compose: values.compose, env: values.env, allow }, waiting: "" };
}
