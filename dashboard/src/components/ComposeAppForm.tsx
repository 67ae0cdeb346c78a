import { FileCode2 } from "lucide-react";
import { useState, type FormEvent, type ReactNode } from "react";
import { api, unwrap } from "@/api/client";
import { PolicyRuleChecks } from "@/components/AppOptions";
import { CodeEditor } from "@/components/CodeEditor";
import { ComposeCheckPanel } from "@/components/ComposeCheck";
import { ErrorAlert, Spinner } from "@/components/common";
import { UnsavedChangesPrompt } from "@/components/UnsavedChanges";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { useComposeCheck } from "@/hooks/useComposeCheck";
import { exceptionsPayload, validateExceptions } from "@/lib/appOptions";
import { useCan } from "@/lib/auth";
import {
  composeAppPayload,
  fieldOfServerError,
  initialComposeValues,
  liveCheckOf,
  validateComposeApp,
  type ComposeAppValues,
  type ComposeErrors,
  type ComposeField,
} from "@/lib/composeApp";
import { errorMessage } from "@/api/errors";

export interface CreatedApp {
  name: string;
  deploymentId: string;
  generated?: Record<string, string>;
}

function FieldNote({ id, error, children }: { id: string; error?: string; children: ReactNode }) {
  return (
    <p id={id} className={error ? "text-xs text-destructive" : "text-xs text-muted-foreground"}>
      {error ?? children}
    </p>
  );
}

/** A new app from a compose file and its .env (`POST /api/v1/apps` without a template). Operators
 * and admins only; policy exceptions only for admins. `onCreated` gets the queued deployment. */
export function ComposeAppForm({ onCreated }: { onCreated: (created: CreatedApp) => void | Promise<void> }) {
  const canCreate = useCan("operator");
  const isAdmin = useCan("admin");
  const [values, setValues] = useState<ComposeAppValues>(initialComposeValues);
  const [errors, setErrors] = useState<ComposeErrors>({});
  const [serverError, setServerError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const live = liveCheckOf(values, isAdmin);
  const check = useComposeCheck(canCreate ? live.input : null);
  const exceptionsError = isAdmin ? validateExceptions(exceptionsPayload(values.exceptions)) : null;

  if (!canCreate) {
    return <ErrorAlert error={new Error("Creating an app needs the operator role; your role can look but not deploy.")} />;
  }

  const set = <K extends keyof ComposeAppValues>(key: K, value: ComposeAppValues[K]) => setValues((v) => ({ ...v, [key]: value }));
  const serverField: ComposeField | null = fieldOfServerError(serverError);
  const shown: ComposeErrors = { ...errors };
  if (serverError && serverField && !shown[serverField]) shown[serverField] = errorMessage(serverError);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const found = validateComposeApp(values, isAdmin);
    setErrors(found);
    setServerError(null);
    if (Object.keys(found).length) return;
    setBusy(true);
    try {
      const reply = await unwrap(api.POST("/api/v1/apps", { body: composeAppPayload(values, isAdmin) }));
      await onCreated({ name: values.name, deploymentId: reply.deployment?.id ?? "", generated: reply.generated });
    } catch (err) {
      setServerError(err);
    } finally {
      setBusy(false);
    }
  };

  const invalid = (field: ComposeField) => (shown[field] ? true : undefined);
  const start = initialComposeValues();
  const edited = (["name", "compose", "env", "message"] as const).some((key) => values[key] !== start[key]);

  return (
    <form onSubmit={submit} noValidate aria-label="New app from compose" className="grid gap-6">
      {/* while it is being created (busy) the page moves on to the deployment: not a loss */}
      <UnsavedChangesPrompt dirty={edited && !busy} what="the new app's files" />
      <Card>
        <CardHeader>
          <CardTitle>App</CardTitle>
          <CardDescription>AppOS checks the file (Compose's own validation and the host policy) before anything is created.</CardDescription>
        </CardHeader>
        <CardContent className="grid gap-5">
          <div className="grid max-w-sm gap-1.5">
            <Label htmlFor="compose-app-name">App name</Label>
            <Input
              id="compose-app-name"
              value={values.name}
              aria-invalid={invalid("name")}
              aria-describedby="compose-app-name-help"
              onChange={(e) => set("name", e.target.value.trim().toLowerCase())}
            />
            <FieldNote id="compose-app-name-help" error={shown.name}>
              Lowercase letters, digits and '-'; it names the app's containers.
            </FieldNote>
          </div>
          <div className="grid gap-2">
            <Label>compose.yaml</Label>
            <div aria-invalid={invalid("compose")} className={shown.compose ? "rounded-lg ring-2 ring-destructive/40" : undefined}>
              <CodeEditor value={values.compose} onChange={(text) => set("compose", text)} language="yaml" label="compose.yaml" testId="new-compose-editor" />
            </div>
            <FieldNote id="compose-help" error={shown.compose}>
              Images must be on this server or pullable by it. Host paths, privileged mode and the Docker socket need an admin's exception.
            </FieldNote>
            <ComposeCheckPanel
              check={check}
              waiting={live.waiting}
              adminHint={isAdmin ? "As an admin, you can allow it for this app under Policy exceptions below (with a reason)." : undefined}
            />
          </div>
          <div className="grid gap-2">
            <Label>.env</Label>
            <div aria-invalid={invalid("env")} className={shown.env ? "rounded-lg ring-2 ring-destructive/40" : undefined}>
              <CodeEditor value={values.env} onChange={(text) => set("env", text)} label=".env" testId="new-env-editor" />
            </div>
            <FieldNote id="env-help" error={shown.env}>
              KEY=value lines, used for ${"{"}KEY{"}"} in the compose file. Optional.
            </FieldNote>
          </div>
          <div className="grid gap-1.5">
            <Label htmlFor="compose-app-message">Message (optional)</Label>
            <Input id="compose-app-message" placeholder="What this app is for" value={values.message} maxLength={500} onChange={(e) => set("message", e.target.value)} />
          </div>
          <label className="flex items-start gap-2 text-sm">
            <input type="checkbox" className="mt-0.5 size-4" checked={values.autoRollback} onChange={(e) => set("autoRollback", e.target.checked)} />
            <span>
              Automatic rollback
              <span className="block text-xs text-muted-foreground">When a later deployment fails, go back to the last version that worked.</span>
            </span>
          </label>
          {isAdmin && (
            <details className="rounded-lg border px-3 py-2">
              <summary className="cursor-pointer text-sm font-medium text-primary">Policy exceptions (admin)</summary>
              <div className="mt-3 grid gap-3">
                <PolicyRuleChecks
                  value={values.exceptions}
                  onChange={(exceptions) => set("exceptions", exceptions)}
                  idPrefix="compose-app"
                  error={exceptionsError}
                />
                <div className="grid gap-1.5">
                  <Label htmlFor="compose-app-reason">Reason (kept with version 1)</Label>
                  <Input id="compose-app-reason" value={values.reason} maxLength={300} aria-invalid={invalid("allow")} aria-describedby="compose-app-allow-help" onChange={(e) => set("reason", e.target.value)} />
                  <FieldNote id="compose-app-allow-help" error={shown.allow && shown.allow === exceptionsError ? "Fix the exceptions above first." : shown.allow}>
                    Required when allowing anything.
                  </FieldNote>
                </div>
              </div>
            </details>
          )}
          {Object.keys(errors).length > 0 && (
            <p role="alert" className="text-sm text-destructive">
              Fix the marked fields first.
            </p>
          )}
          <ErrorAlert error={serverError} />
          <div className="flex items-center gap-3">
            <Button type="submit" disabled={busy}>
              <FileCode2 />
              {busy ? "Creating…" : "Create and deploy"}
            </Button>
            {busy && <Spinner label="Checking the compose file and queueing the deployment…" />}
          </div>
        </CardContent>
      </Card>
    </form>
  );
}
