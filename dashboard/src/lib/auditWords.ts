/** The audit log in words a person reads: "Rolled back blog to version 2" rather than
 *  appos.v1.Apps.Rollback, "Permission denied" rather than permission_denied. */
import type { Schemas } from "@/api/client";

type Entry = Pick<Schemas["AuditEntry"], "action" | "target" | "app">;

/** Each action's sentence; `{t}` is the target (an app, user, domain, …), `{v}` a version. */
const SENTENCES: Record<string, string> = {
  "Apps.CreateApp": "Created app {t}",
  "Apps.StartApp": "Started {t}",
  "Apps.StopApp": "Stopped {t}",
  "Apps.RestartApp": "Restarted {t}",
  "Apps.RedeployApp": "Redeployed {t}",
  "Apps.DeleteApp": "Removed app {t}",
  "Apps.UpdateCompose": "Changed the compose of {t}",
  "Apps.Rollback": "Rolled back {t} to version {v}",
  "Apps.UpdateAppOptions": "Changed the options of {t}",
  "Apps.SetPolicyExceptions": "Changed the policy exceptions of {t}",
  "Deployments.CancelDeployment": "Cancelled deployment {t}",
  "Auth.Login": "Signed in as {t}",
  "Auth.Logout": "Signed out",
  "Auth.ChangePassword": "Changed their password",
  "Auth.CreateToken": "Created API token {t}",
  "Auth.RevokeToken": "Revoked API token {t}",
  "Auth.CreateUser": "Added user {t}",
  "Auth.UpdateUser": "Changed user {t}",
  "Auth.DeleteUser": "Deleted user {t}",
  "Auth.BeginTotpSetup": "Began setting up two-factor authentication",
  "Auth.ConfirmTotpSetup": "Turned on two-factor authentication",
  "Auth.DisableTotp": "Turned off two-factor authentication",
  "Auth.ResetTotp": "Reset two-factor authentication of {t}",
  "System.RotateSigningKey": "Rotated the signing key (every session ended)",
  "Proxy.AddDomain": "Added domain {t}",
  "Proxy.RemoveDomain": "Removed domain {t}",
  "Proxy.RenewCertificate": "Renewed the certificate of {t}",
  "Backups.CreateBackup": "Made a backup",
  "Backups.DeleteBackup": "Deleted backup {t}",
  "Backups.RestoreBackup": "Restored backup {t}",
  "Backups.UpdateBackupSettings": "Changed the backup settings",
  "Notifications.CreateTarget": "Added notification target {t}",
  "Notifications.UpdateTarget": "Changed notification target {t}",
  "Notifications.DeleteTarget": "Deleted notification target {t}",
  "Notifications.TestTarget": "Sent a test to notification target {t}",
  "terminal.session_start": "Opened a terminal on {t}",
  "terminal.session_end": "Closed a terminal on {t}",
};

/** "Apps.StopApp" → "Stop app": a fallback for an action without a sentence. */
function spaced(action: string): string {
  const method = action.split(".").pop() ?? action;
  const words = method.replace(/_/g, " ").replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** What an entry did, as a sentence. */
export function auditSentence(entry: Entry): string {
  const action = (entry.action ?? "").replace(/^appos\.v1\./, "");
  const target = entry.target || entry.app || "";
  const sentence = SENTENCES[action];
  if (!sentence) return target ? `${spaced(action)}: ${target}` : spaced(action);
  // a rollback's target is "<app>/<version>" (the gateway adds the body's version)
  const [name, version] = action === "Apps.Rollback" ? [target.split("/")[0], target.split("/")[1] ?? ""] : [target, ""];
  let text = sentence.replace("{t}", name || "?");
  text = version ? text.replace("{v}", version) : text.replace(" to version {v}", " to an earlier version");
  return text;
}

const CODES: Record<string, string> = {
  ok: "Done",
  invalid_argument: "Refused: invalid input",
  failed_precondition: "Refused: not possible now",
  not_found: "Not found",
  already_exists: "Already exists",
  aborted: "Conflict",
  permission_denied: "Permission denied",
  unauthenticated: "Not signed in",
  totp_required: "Two-factor code needed",
  totp_invalid: "Wrong two-factor code",
  resource_exhausted: "Too many attempts",
  unavailable: "Service unavailable",
  deadline_exceeded: "Timed out",
  internal: "Internal error",
  cancelled: "Cancelled",
};

/** An error code (or "ok") in words: "permission_denied" → "Permission denied". */
export function codeInWords(code: string | undefined): string {
  if (!code) return "—";
  if (CODES[code]) return CODES[code];
  const words = code.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}
