import { useQueryClient } from "@tanstack/react-query";
import { Loader2, Save, ShieldAlert } from "lucide-react";
import { useState, type FormEvent } from "react";
import { api, unwrap, type App } from "@/api/client";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { ErrorAlert, SuccessNote } from "@/components/common";
import { Alert } from "@/components/ui/alert";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import {
  exceptionsPayload,
  NAMED_RULES,
  optionsOf,
  optionsPatch,
  POLICY_RULES,
  reasonError,
  sameList,
  splitExceptions,
  validateExceptions,
  type AppOptions,
  type ExceptionFields,
} from "@/lib/appOptions";
import { useCan } from "@/lib/auth";
import { FEATURES } from "@/lib/features";

const OPTIONS: { key: keyof AppOptions; label: string; help: string }[] = [
  { key: "auto_rollback", label: "Automatic rollback", help: "When a deploy of a new version fails, go back to the last version that worked." },
  { key: "backup_volumes", label: "Include volumes in backups", help: "Backups that ask for volumes also take this app's named volumes (its data)." },
];

/** The compose policy exceptions an admin can allow (the app's, a new app's): one checkbox per
 * rule allowed by name, and a field for each rule that names what it allows (capabilities, host
 * paths, compose keys). `error` is what validateExceptions says about the whole. */
export function PolicyRuleChecks({
  value,
  onChange,
  idPrefix,
  error,
}: {
  value: ExceptionFields;
  onChange: (value: ExceptionFields) => void;
  idPrefix: string;
  error?: string | null;
}) {
  const named: { field: "caps" | "paths" | "keys"; label: string; placeholder: string }[] = [
    { field: "caps", label: "Allowed capabilities (cap_add)", placeholder: "e.g. NET_ADMIN, SYS_TIME" },
    { field: "paths", label: "Allowed host paths (host_path)", placeholder: "e.g. /srv/media, /mnt/backups" },
    { field: "keys", label: "Allowed unknown compose keys (key)", placeholder: "e.g. bind.propagation" },
  ];
  const errorId = `${idPrefix}-exceptions-error`;
  return (
    <div className="grid gap-3">
      <fieldset className="grid gap-2">
        <legend className="sr-only">Allowed rules</legend>
        {POLICY_RULES.map((r) => (
          <label key={r.name} className="flex items-start gap-2 text-sm">
            <input
              type="checkbox"
              className="mt-0.5 size-4 shrink-0"
              checked={value.rules.includes(r.name)}
              onChange={(e) => onChange({ ...value, rules: e.target.checked ? [...value.rules, r.name] : value.rules.filter((x) => x !== r.name) })}
            />
            <span className="min-w-0">
              <code className="font-mono text-xs">{r.name}</code> <span className="text-muted-foreground">— {r.what}</span>
            </span>
          </label>
        ))}
      </fieldset>
      {named.map(({ field, label, placeholder }) => (
        <div key={field} className="grid gap-1.5">
          <Label htmlFor={`${idPrefix}-${field}`}>{label}</Label>
          <Input
            id={`${idPrefix}-${field}`}
            placeholder={placeholder}
            value={value[field]}
            aria-invalid={error ? true : undefined}
            aria-describedby={`${idPrefix}-${field}-help${error ? ` ${errorId}` : ""}`}
            onChange={(e) => onChange({ ...value, [field]: e.target.value })}
          />
          <p id={`${idPrefix}-${field}-help`} className="text-xs text-muted-foreground">
            <code className="font-mono">{NAMED_RULES[field].rule}</code> — {NAMED_RULES[field].what}.
          </p>
        </div>
      ))}
      {error && (
        <p id={errorId} className="text-xs text-destructive">
          {error}
        </p>
      )}
    </div>
  );
}

/** The app's options and policy exceptions: everyone sees them; operators change the options,
 * admins the exceptions. */
export function AppOptionsCard({ app }: { app: App }) {
  const canEdit = useCan("operator") && FEATURES.appOptions;
  const isAdmin = useCan("admin") && FEATURES.policy;
  const options = optionsOf(app);
  const exceptions = app.policy_exceptions ?? [];
  return (
    <Card data-testid="app-options">
      <CardHeader>
        <CardTitle>Options</CardTitle>
        <CardDescription>How AppOS treats this app when a deployment fails and when it backs up.</CardDescription>
      </CardHeader>
      <CardContent className="grid gap-6 lg:grid-cols-2">
        {canEdit ? (
          <OptionsForm app={app.name ?? ""} current={options} />
        ) : (
          <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-2 text-sm">
            {OPTIONS.map((o) => (
              <div key={o.key} className="contents">
                <dt className="text-muted-foreground">{o.label}</dt>
                <dd data-testid={`option-${o.key}`}>{options[o.key] ? "on" : "off"}</dd>
              </div>
            ))}
          </dl>
        )}
        <div className="grid content-start gap-3">
          <div>
            <h4 className="text-sm font-medium">Compose policy exceptions</h4>
            <p className="mt-1 text-sm text-muted-foreground">What this app's compose file may ask of the host beyond the default policy.</p>
          </div>
          <div className="flex flex-wrap gap-1.5" data-testid="policy-exceptions">
            {exceptions.length === 0 ? (
              <span className="text-sm text-muted-foreground">None: the default policy applies.</span>
            ) : (
              exceptions.map((e) => (
                <Badge key={e} variant="warning" className="font-mono">
                  {e}
                </Badge>
              ))
            )}
          </div>
          {isAdmin && <PolicyForm app={app.name ?? ""} current={exceptions} />}
        </div>
      </CardContent>
    </Card>
  );
}

function OptionsForm({ app, current }: { app: string; current: AppOptions }) {
  const queryClient = useQueryClient();
  const [wanted, setWanted] = useState<AppOptions>(current);
  const [base, setBase] = useState<AppOptions>(current);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  // The stored values changed (this form's save, another tab, another user): follow them unless
  // the form has unsaved changes of its own.
  if (optionsPatch(base, current) !== null) {
    setBase(current);
    if (!optionsPatch(base, wanted)) setWanted(current);
  }
  const patch = optionsPatch(current, wanted);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!patch) return;
    setBusy(true);
    setError(null);
    setSaved(false);
    try {
      const updated = await unwrap(api.PATCH("/api/v1/apps/{app}/options", { params: { path: { app } }, body: patch }));
      queryClient.setQueryData(["app", app], updated);
      queryClient.invalidateQueries({ queryKey: ["apps"] });
      setSaved(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={submit} className="grid content-start gap-4" aria-label="App options">
      {OPTIONS.map((o) => (
        <div key={o.key} className="flex items-start gap-3">
          <input
            id={`option-${o.key}`}
            type="checkbox"
            className="mt-0.5 size-4 shrink-0"
            checked={wanted[o.key]}
            onChange={(e) => {
              setSaved(false);
              setWanted({ ...wanted, [o.key]: e.target.checked });
            }}
          />
          <div className="grid gap-0.5">
            <Label htmlFor={`option-${o.key}`}>{o.label}</Label>
            <p className="text-xs text-muted-foreground">{o.help}</p>
          </div>
        </div>
      ))}
      <div className="flex flex-wrap items-center gap-3">
        <Button type="submit" variant="outline" disabled={!patch || busy}>
          {busy ? <Loader2 className="animate-spin" /> : <Save />}
          {busy ? "Saving…" : "Save options"}
        </Button>
        {saved && !patch && <SuccessNote>Options saved.</SuccessNote>}
      </div>
      <ErrorAlert error={error} />
    </form>
  );
}

function PolicyForm({ app, current }: { app: string; current: string[] }) {
  const queryClient = useQueryClient();
  const [fields, setFields] = useState<ExceptionFields>(() => splitExceptions(current));
  const [base, setBase] = useState<string[]>(current);
  const [reason, setReason] = useState("");
  const [saved, setSaved] = useState(false);
  const wanted = exceptionsPayload(fields);
  // as in OptionsForm: follow a change stored elsewhere unless this form has edits of its own
  if (!sameList(base, current)) {
    setBase(current);
    if (sameList(wanted, base)) setFields(splitExceptions(current));
  }
  const invalid = validateExceptions(wanted);
  const changed = !sameList(wanted, current);
  const missingReason = reasonError(wanted, reason);
  const edit = (next: ExceptionFields) => {
    setSaved(false);
    setFields(next);
  };

  const save = async () => {
    const updated = await unwrap(api.PUT("/api/v1/apps/{app}/policy", { params: { path: { app } }, body: { exceptions: wanted, reason: reason.trim() } }));
    queryClient.setQueryData(["app", app], updated);
    setReason("");
    setSaved(true);
  };

  return (
    <details className="group rounded-lg border px-3 py-2">
      <summary className="cursor-pointer text-sm font-medium text-primary">Change exceptions (admin)</summary>
      <div className="mt-3 grid gap-3">
        <PolicyRuleChecks value={fields} onChange={edit} idPrefix="policy" error={invalid} />
        <div className="grid gap-1.5">
          <Label htmlFor="policy-reason">Reason (kept in the audit log)</Label>
          <Input id="policy-reason" value={reason} maxLength={500} aria-describedby="policy-reason-hint" onChange={(e) => setReason(e.target.value)} />
          <p id="policy-reason-hint" className={changed && missingReason ? "text-xs text-destructive" : "text-xs text-muted-foreground"}>
            {changed && missingReason ? missingReason : "Required when allowing anything."}
          </p>
        </div>
        <div className="flex flex-wrap items-center gap-3">
          <ConfirmDialog
            trigger={
              <Button variant="outline" disabled={!changed || Boolean(invalid) || Boolean(missingReason)}>
                <ShieldAlert />
                Save exceptions
              </Button>
            }
            title={`Change the policy exceptions of ${app}?`}
            description={
              wanted.length
                ? `Its compose file may then use: ${wanted.join(", ")}. The next deployment applies it.`
                : "Its compose file must then follow the default policy."
            }
            onConfirm={save}
          />
          {saved && !changed && <SuccessNote>Exceptions saved.</SuccessNote>}
        </div>
        {wanted.some((w) => w === "docker_socket" || w === "privileged") && (
          <Alert variant="info" role="note">
            <ShieldAlert className="text-warning" />
            <span>privileged and docker_socket give the app's containers control of the whole host.</span>
          </Alert>
        )}
      </div>
    </details>
  );
}
