/** Secrets the server generated at deploy time, kept in this page's memory only (never stored in
 * the browser) until the deployment page has shown them. The page that shows them may be mounted
 * again right after (the app's layout shows a spinner until the new app is read), so they are
 * forgotten a short while after the first time they were taken, not at once. */
const generated = new Map<string, { secrets: Record<string, string>; taken: number | null }>();
export const FORGET_AFTER_MS = 60_000;

export function keepGenerated(deploymentId: string, secrets: Record<string, string> | undefined) {
  if (secrets && Object.keys(secrets).length) generated.set(deploymentId, { secrets, taken: null });
}

export function takeGenerated(deploymentId: string, now: number = Date.now()): Record<string, string> | null {
  const kept = generated.get(deploymentId);
  if (!kept) return null;
  if (kept.taken === null) {
    kept.taken = now;
    setTimeout(() => generated.delete(deploymentId), FORGET_AFTER_MS);
  } else if (now - kept.taken > FORGET_AFTER_MS) {
    generated.delete(deploymentId);
    return null;
  }
  return kept.secrets;
}
