import { Plus } from "lucide-react";
import { useState, type FormEvent, type ReactNode } from "react";
import { ErrorAlert, Spinner, SuccessNote } from "@/components/common";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";

/** An admin's "Add …" request that the server checks for a long while (a store's clone, a server's
 * SSH or TLS checks): busy while it runs, the server's refusal kept (and what was typed with it),
 * what was added kept to say so. `add` sends the request; `done` runs after a success (empty the
 * form, refresh the lists). */
export function useAdding<T>(add: () => Promise<T>, done: (added: T) => void) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [added, setAdded] = useState<T | null>(null);
  const run = async () => {
    setBusy(true);
    setError(null);
    setAdded(null);
    try {
      const result = await add();
      setAdded(result);
      done(result);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, added, run };
}

/** The card every "Add …" form of the console is: title and description, the fields, the refusal
 * (titled, with the console's own summary when it knows the message), the submit button, a spinner
 * that says what the server is doing, and what was added. */
export function AddFormCard({
  title,
  description,
  onSubmit,
  busy,
  error,
  errorTitle,
  errorSummary,
  submitLabel,
  canSubmit,
  busyNote,
  addedNote,
  children,
}: {
  title: string;
  description: ReactNode;
  /** the form was submitted: check the fields, then `run` the request */
  onSubmit: () => void;
  busy: boolean;
  error: unknown;
  errorTitle: string;
  errorSummary?: string;
  submitLabel: string;
  canSubmit: boolean;
  busyNote: string;
  addedNote: string | null;
  children: ReactNode;
}) {
  const submit = (event: FormEvent) => {
    event.preventDefault();
    onSubmit();
  };
  return (
    <Card className="mb-6">
      <CardHeader>
        <CardTitle>{title}</CardTitle>
        <CardDescription>{description}</CardDescription>
      </CardHeader>
      <CardContent>
        <form onSubmit={submit} noValidate className="grid gap-4" aria-busy={busy}>
          {children}
          <ErrorAlert error={error} title={errorTitle} summary={errorSummary} />
          <div className="flex flex-wrap items-center gap-3">
            <Button type="submit" disabled={busy || !canSubmit}>
              <Plus />
              {busy ? "Adding…" : submitLabel}
            </Button>
            {busy && <Spinner label={busyNote} />}
            {addedNote && !busy && <SuccessNote>{addedNote}</SuccessNote>}
          </div>
        </form>
      </CardContent>
    </Card>
  );
}
