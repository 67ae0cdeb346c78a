/** Secrets the server generated at deploy time, kept in memory only until the deployment page
 * has shown them once (never stored in the browser). */
const generated = new Map<string, Record<string, string>>();

export function keepGenerated(deploymentId: string, secrets: Record<string, string> | undefined) {
  if (secrets && Object.keys(secrets).length) generated.set(deploymentId, secrets);
}

export function takeGenerated(deploymentId: string): Record<string, string> | null {
  const secrets = generated.get(deploymentId) ?? null;
  generated.delete(deploymentId);
  return secrets;
}
