import { KeyRound, Loader2, Save } from "lucide-react";
import { useId, useState, type FormEvent, type ReactNode } from "react";
import { api, unwrap } from "@/api/client";
import { CopyButton } from "@/components/CopyButton";
import { ErrorAlert } from "@/components/common";
import { Button } from "@/components/ui/button";
import { Input, NativeSelect, Textarea } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import {
  DEFAULT_PORTS,
  emptyTargetForm,
  EVENT_LABELS,
  formFromTarget,
  generateSecret,
  SECURITIES,
  storedSecrets,
  targetPayload,
  validateTarget,
  type NotificationTarget,
  type Security,
  type TargetForm,
  type TargetKind,
} from "@/lib/notificationForm";

interface Props {
  eventKinds: string[];
  /** The stored target to edit; none: a new one. */
  existing?: NotificationTarget;
  onSaved: (target: NotificationTarget) => void;
  onCancel?: () => void;
}

function Field({ id, label, error, hint, children }: { id: string; label: string; error?: string; hint?: ReactNode; children: ReactNode }) {
  return (
    <div className="grid content-start gap-1.5">
      <Label htmlFor={id}>{label}</Label>
      {children}
      {error ? (
        <p id={`${id}-error`} className="text-xs text-destructive">
          {error}
        </p>
      ) : hint ? (
        <p className="text-xs text-muted-foreground">{hint}</p>
      ) : null}
    </div>
  );
}

/** A webhook or email target: create, or replace a stored one (its secrets stay unless retyped). */
export function NotificationTargetForm({ eventKinds, existing, onSaved, onCancel }: Props) {
  const uid = useId();
  const [form, setForm] = useState<TargetForm>(() => (existing ? formFromTarget(existing, eventKinds) : emptyTargetForm(eventKinds)));
  const [tried, setTried] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [showSecret, setShowSecret] = useState(false);
  const errors = validateTarget(form, existing);
  const shown = tried ? errors : {};
  const stored = storedSecrets(existing, form.kind);
  const set = <K extends keyof TargetForm>(key: K, value: TargetForm[K]) => setForm((old) => ({ ...old, [key]: value }));
  const id = (field: string) => `${uid}-${field}`;
  const invalid = (field: keyof TargetForm) =>
    shown[field] ? { "aria-invalid": true as const, "aria-describedby": `${id(field)}-error` } : {};

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setTried(true);
    setError(null);
    if (Object.keys(errors).length) return;
    setBusy(true);
    try {
      const body = targetPayload(form, { create: !existing });
      const saved = existing
        ? await unwrap(api.PUT("/api/v1/notifications/targets/{name}", { params: { path: { name: existing.name ?? "" } }, body }))
        : await unwrap(api.POST("/api/v1/notifications/targets", { body }));
      onSaved(saved);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const secretState = (set_: boolean) => (set_ ? "set — leave empty to keep it" : "not set");

  return (
    <form onSubmit={submit} noValidate className="grid gap-4" aria-label={existing ? `Edit ${existing.name}` : "New notification target"}>
      <div className="grid gap-4 sm:grid-cols-2">
        <Field id={id("name")} label="Target name" error={shown.name} hint={existing ? "A target's name cannot change." : "Lowercase letters, digits and '-'."}>
          <Input id={id("name")} value={form.name} disabled={Boolean(existing)} autoComplete="off" onChange={(e) => set("name", e.target.value)} {...invalid("name")} />
        </Field>
        <Field id={id("kind")} label="Kind">
          <NativeSelect id={id("kind")} value={form.kind} onChange={(e) => set("kind", e.target.value as TargetKind)}>
            <option value="webhook">webhook (signed HTTP POST)</option>
            <option value="email">email (SMTP)</option>
          </NativeSelect>
        </Field>
      </div>

      {form.kind === "webhook" ? (
        <div className="grid gap-4 sm:grid-cols-2">
          <Field id={id("url")} label="URL" error={shown.url} hint="AppOS POSTs JSON here; redirects are not followed.">
            <Input id={id("url")} type="url" inputMode="url" placeholder="https://hooks.example.com/appos" value={form.url} onChange={(e) => set("url", e.target.value)} {...invalid("url")} />
          </Field>
          <Field id={id("secret")} label="Secret" error={shown.secret} hint={<>Signs each request (X-AppOS-Signature). Stored secret: <span data-testid="secret-state">{secretState(stored.secret)}</span>.</>}>
            <div className="flex gap-2">
              <Input
                id={id("secret")}
                type={showSecret ? "text" : "password"}
                autoComplete="new-password"
                placeholder={stored.secret ? "unchanged" : "16–256 characters"}
                value={form.secret}
                onChange={(e) => set("secret", e.target.value)}
                {...invalid("secret")}
              />
              <Button
                type="button"
                variant="outline"
                onClick={() => {
                  set("secret", generateSecret());
                  setShowSecret(true);
                }}
              >
                <KeyRound />
                Generate
              </Button>
            </div>
            {showSecret && form.secret && (
              <div className="flex items-center gap-2">
                <p className="text-xs text-muted-foreground">Copy it to the receiver now: AppOS never shows it again.</p>
                <CopyButton text={form.secret} what="webhook secret" />
              </div>
            )}
          </Field>
        </div>
      ) : (
        <div className="grid gap-4 sm:grid-cols-2 lg:grid-cols-4">
          <div className="sm:col-span-2">
            <Field id={id("host")} label="SMTP host" error={shown.host}>
              <Input id={id("host")} placeholder="smtp.example.com" value={form.host} onChange={(e) => set("host", e.target.value)} {...invalid("host")} />
            </Field>
          </div>
          <Field id={id("security")} label="Security" error={shown.security}>
            <NativeSelect id={id("security")} value={form.security} onChange={(e) => set("security", e.target.value as Security)} {...invalid("security")}>
              {SECURITIES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </NativeSelect>
          </Field>
          <Field id={id("port")} label="Port" error={shown.port} hint={`Empty: ${DEFAULT_PORTS[form.security]}.`}>
            <Input id={id("port")} inputMode="numeric" placeholder={String(DEFAULT_PORTS[form.security])} value={form.port} onChange={(e) => set("port", e.target.value)} {...invalid("port")} />
          </Field>
          <div className="sm:col-span-2">
            <Field id={id("username")} label="SMTP username" error={shown.username} hint="Empty: no login.">
              <Input id={id("username")} autoComplete="off" value={form.username} onChange={(e) => set("username", e.target.value)} {...invalid("username")} />
            </Field>
          </div>
          <div className="sm:col-span-2">
            <Field id={id("password")} label="SMTP password" error={shown.password} hint={<>Stored password: <span data-testid="password-state">{secretState(stored.password)}</span>.</>}>
              <Input id={id("password")} type="password" autoComplete="new-password" placeholder={stored.password ? "unchanged" : ""} value={form.password} onChange={(e) => set("password", e.target.value)} {...invalid("password")} />
            </Field>
          </div>
          <div className="sm:col-span-2">
            <Field id={id("from_address")} label="From" error={shown.from_address}>
              <Input id={id("from_address")} type="email" placeholder="appos@example.com" value={form.from_address} onChange={(e) => set("from_address", e.target.value)} {...invalid("from_address")} />
            </Field>
          </div>
          <div className="sm:col-span-2">
            <Field id={id("to")} label="To" error={shown.to} hint="Up to 20 addresses, separated by commas or new lines.">
              <Textarea id={id("to")} rows={2} value={form.to} onChange={(e) => set("to", e.target.value)} {...invalid("to")} />
            </Field>
          </div>
        </div>
      )}

      <fieldset className="grid gap-2" aria-describedby={shown.events ? `${id("events")}-error` : undefined}>
        <legend className="mb-1 text-sm font-medium">Send when</legend>
        {eventKinds.map((kind) => (
          <label key={kind} className="flex items-start gap-2 text-sm">
            <input
              type="checkbox"
              className="mt-0.5 size-4 shrink-0"
              checked={form.events.includes(kind)}
              onChange={(e) => set("events", e.target.checked ? [...form.events, kind] : form.events.filter((k) => k !== kind))}
            />
            <span>
              {EVENT_LABELS[kind] ?? kind} <code className="text-xs text-muted-foreground">{kind}</code>
            </span>
          </label>
        ))}
        {shown.events && (
          <p id={`${id("events")}-error`} className="text-xs text-destructive">
            {shown.events}
          </p>
        )}
      </fieldset>
      <label className="flex items-center gap-2 text-sm">
        <input type="checkbox" className="size-4" checked={form.enabled} onChange={(e) => set("enabled", e.target.checked)} />
        Enabled
      </label>

      <ErrorAlert error={error} />
      {tried && Object.keys(errors).length > 0 && (
        <p role="alert" className="text-sm text-destructive">
          Fix the marked fields first.
        </p>
      )}
      <div className="flex flex-wrap justify-end gap-2">
        {onCancel && (
          <Button type="button" variant="outline" onClick={onCancel} disabled={busy}>
            Cancel
          </Button>
        )}
        <Button type="submit" disabled={busy}>
          {busy ? <Loader2 className="animate-spin" /> : <Save />}
          {busy ? "Saving…" : existing ? "Save target" : "Add target"}
        </Button>
      </div>
    </form>
  );
}
