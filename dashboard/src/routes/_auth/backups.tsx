import { useQuery, useQueryClient } from "@tanstack/react-query";
import { createFileRoute } from "@tanstack/react-router";
import { Download, HardDriveDownload, Trash2, Upload } from "lucide-react";
import { useEffect, useState, type FormEvent } from "react";
import { api, apiFetch, unwrap } from "@/api/client";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { EmptyState, ErrorAlert, PageHeader, Spinner, StatusBadge, SuccessNote } from "@/components/common";
import { Alert } from "@/components/ui/alert";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Table, TBody, TD, TH, THead, TR } from "@/components/ui/table";
import { useCan } from "@/lib/auth";
import { parseRetention } from "@/lib/backupSettings";
import { formatBytes, formatTime } from "@/lib/format";

export const Route = createFileRoute("/_auth/backups")({
  component: BackupsPage,
});

function BackupsPage() {
  const isAdmin = useCan("admin");
  const queryClient = useQueryClient();
  const backups = useQuery({
    queryKey: ["backups"],
    queryFn: () => unwrap(api.GET("/api/v1/backups")),
    enabled: isAdmin,
    // Backup events refresh the list (`liveQueries.ts`); polled only while one runs, since a job that
    // dies sends no event: its record reads "interrupted" once its guard expires, a minute at most.
    refetchInterval: (q) => ((q.state.data?.backups ?? []).some((b) => b.status === "running") ? 15_000 : false),
  });
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  if (!isAdmin) return <ErrorAlert error={new Error("Backups need the admin role.")} />;
  const list = backups.data?.backups ?? [];

  const download = async (id: string) => {
    setError(null);
    try {
      const response = await apiFetch(`/api/v1/backups/${encodeURIComponent(id)}/download`);
      const url = URL.createObjectURL(await response.blob());
      const a = document.createElement("a");
      a.href = url;
      a.download = `${id}.tar.gz`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) {
      setError(err);
    }
  };
  const remove = async (id: string) => {
    await unwrap(api.DELETE("/api/v1/backups/{id}", { params: { path: { id } } }));
    queryClient.invalidateQueries({ queryKey: ["backups"] });
  };

  return (
    <>
      <PageHeader title="Backups" description="The whole install in one archive: database, app files, certificates, and the volumes of apps that opted in." />
      <div className="mb-6 grid gap-6 lg:grid-cols-2">
        <CreateBackup />
        <BackupSettings />
      </div>
      <UploadBackup onDone={() => queryClient.invalidateQueries({ queryKey: ["backups"] })} />
      {notice && (
        <Alert variant="success" className="mb-4">
          <span>{notice}</span>
        </Alert>
      )}
      <ErrorAlert error={backups.error ?? error} className="mb-4" />
      {backups.isPending ? (
        <Spinner />
      ) : list.length === 0 ? (
        <EmptyState>No backups yet.</EmptyState>
      ) : (
        <div className="rounded-xl border bg-card shadow-xs">
          <Table>
            <THead>
              <TR>
                <TH>Backup</TH>
                <TH>Status</TH>
                <TH className="hidden md:table-cell">Apps</TH>
                <TH className="hidden sm:table-cell">Size</TH>
                <TH className="text-right">Actions</TH>
              </TR>
            </THead>
            <TBody>
              {list.map((b) => {
                const id = b.id ?? "";
                return (
                  <TR key={id} data-testid={`backup-${id}`}>
                    <TD>
                      <div className="font-mono text-xs">{id}</div>
                      <div className="text-xs text-muted-foreground">
                        {formatTime(b.created_at)} · {b.origin} {b.actor ? `by ${b.actor}` : ""}
                        {b.message ? ` · ${b.message}` : ""}
                      </div>
                    </TD>
                    <TD>
                      <StatusBadge status={b.status} testId={`backup-status-${id}`} />
                      {b.reason && <div className="max-w-64 truncate text-xs text-muted-foreground" title={b.reason}>{b.reason}</div>}
                    </TD>
                    <TD className="hidden text-sm md:table-cell">
                      {(b.apps ?? []).map((a) => `${a.name} v${a.version}${a.volumes?.length ? " +volumes" : ""}`).join(", ") || "—"}
                    </TD>
                    <TD className="hidden text-sm sm:table-cell">{b.size_bytes ? formatBytes(Number(b.size_bytes)) : "—"}</TD>
                    <TD>
                      <div className="flex justify-end gap-2">
                        <Button variant="outline" size="sm" onClick={() => download(id)} disabled={b.status !== "succeeded"} aria-label={`Download ${id}`}>
                          <Download />
                        </Button>
                        <RestoreDialog id={id} disabled={b.status !== "succeeded"} onDone={setNotice} />
                        <ConfirmDialog
                          trigger={
                            <Button variant="outline" size="sm" aria-label={`Delete ${id}`} disabled={b.status === "running"}>
                              <Trash2 />
                            </Button>
                          }
                          title="Delete this backup?"
                          description={id}
                          confirmVariant="destructive"
                          onConfirm={() => remove(id)}
                        />
                      </div>
                    </TD>
                  </TR>
                );
              })}
            </TBody>
          </Table>
        </div>
      )}
    </>
  );
}

function RestoreDialog({ id, disabled, onDone }: { id: string; disabled: boolean; onDone: (notice: string) => void }) {
  const [force, setForce] = useState(false);
  const queryClient = useQueryClient();
  return (
    <ConfirmDialog
      trigger={
        <Button variant="outline" size="sm" disabled={disabled}>
          Restore
        </Button>
      }
      title="Restore this backup?"
      description="The archive is checked completely before anything changes. Restored apps are redeployed."
      confirmLabel="Confirm"
      confirmVariant="destructive"
      onConfirm={async () => {
        const reply = await unwrap(api.POST("/api/v1/backups/restore", { body: { backup_id: id, force } }));
        queryClient.invalidateQueries();
        // a queued job: it ends every login once the database is back (sign in with the backup's users)
        onDone(`Restoring ${id} (${reply.restore?.id ?? ""}): ${(reply.apps ?? []).length} app(s) will be redeployed; sign in again when it ends.`);
      }}
    >
      <label className="flex items-center gap-2 text-sm">
        <input type="checkbox" className="size-4" checked={force} onChange={(e) => setForce(e.target.checked)} />
        Replace what this install has now (its apps are taken down; volumes kept)
      </label>
    </ConfirmDialog>
  );
}

function CreateBackup() {
  const queryClient = useQueryClient();
  const [includeVolumes, setIncludeVolumes] = useState(false);
  const [message, setMessage] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await unwrap(api.POST("/api/v1/backups", { body: { include_volumes: includeVolumes, message } }));
      setMessage("");
      queryClient.invalidateQueries({ queryKey: ["backups"] });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card>
      <CardHeader>
        <CardTitle>Back up now</CardTitle>
      </CardHeader>
      <CardContent>
        <form onSubmit={submit} className="grid gap-3">
          <div className="grid gap-1.5">
            <Label htmlFor="backup-message">Note</Label>
            <Input id="backup-message" value={message} onChange={(e) => setMessage(e.target.value)} placeholder="before the upgrade" />
          </div>
          <label className="flex items-center gap-2 text-sm">
            <input type="checkbox" className="size-4" checked={includeVolumes} onChange={(e) => setIncludeVolumes(e.target.checked)} />
            Include the volumes of apps that opted in
          </label>
          <ErrorAlert error={error} />
          <Button type="submit" disabled={busy} className="w-fit">
            <HardDriveDownload />
            {busy ? "Starting…" : "Create backup"}
          </Button>
        </form>
      </CardContent>
    </Card>
  );
}

function BackupSettings() {
  const queryClient = useQueryClient();
  const settings = useQuery({ queryKey: ["backup-settings"], queryFn: () => unwrap(api.GET("/api/v1/backups/settings")) });
  const [schedule, setSchedule] = useState("");
  const [retention, setRetention] = useState("");
  const [volumes, setVolumes] = useState(false);
  const [saved, setSaved] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [retentionError, setRetentionError] = useState<string | null>(null);
  // the fields follow the server's settings (a live refresh, another admin's change) only while the
  // user has no unsaved edit in them, and only when a setting changed (not just the next run's time)
  const [edited, setEdited] = useState(false);
  const server = settings.data;
  useEffect(() => {
    if (!server || edited) return;
    setSchedule(server.schedule ?? "");
    setRetention(String(server.retention ?? 0));
    setVolumes(Boolean(server.include_volumes));
  }, [server?.schedule, server?.retention, server?.include_volumes, edited]);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    setSaved(false);
    const parsed = parseRetention(retention);
    setRetentionError(parsed.error);
    if (parsed.value === null) return;
    try {
      await unwrap(api.PUT("/api/v1/backups/settings", { body: { schedule: schedule.trim(), retention: parsed.value, include_volumes: volumes } }));
      setSaved(true);
      setEdited(false);
      queryClient.invalidateQueries({ queryKey: ["backup-settings"] });
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Card>
      <CardHeader>
        <CardTitle>Schedule</CardTitle>
        <CardDescription>
          <span data-testid="backup-next-run">{settings.data?.next_run ? `Next backup ${formatTime(settings.data.next_run)}.` : "No scheduled backup."}</span>
        </CardDescription>
      </CardHeader>
      <CardContent>
        <form onSubmit={submit} noValidate aria-label="Backup schedule" className="grid gap-3">
          <div className="grid gap-3 sm:grid-cols-2">
            <div className="grid content-start gap-1.5">
              <Label htmlFor="backup-schedule">When</Label>
              <Input
                id="backup-schedule"
                value={schedule}
                onChange={(e) => {
                  setSaved(false);
                  setEdited(true);
                  setSchedule(e.target.value);
                }}
                placeholder="daily@03:00, every:6 or 0 3 * * 1"
                aria-describedby="backup-schedule-help"
              />
              <p id="backup-schedule-help" className="text-xs text-muted-foreground">
                <code>daily@HH:MM</code>, <code>every:N</code> (hours) or a cron line (minute hour day month weekday, e.g. <code>0 3 * * 1</code> for Mondays at 03:00); times
                in UTC, at most once an hour. Empty: no scheduled backup.
              </p>
            </div>
            <div className="grid content-start gap-1.5">
              <Label htmlFor="backup-retention">Keep (0: all)</Label>
              <Input
                id="backup-retention"
                type="number"
                min={0}
                max={1000}
                step={1}
                value={retention}
                aria-invalid={retentionError ? true : undefined}
                aria-describedby={retentionError ? "backup-retention-error" : undefined}
                onChange={(e) => {
                  setSaved(false);
                  setEdited(true);
                  setRetention(e.target.value);
                }}
              />
              {retentionError && (
                <p id="backup-retention-error" className="text-xs text-destructive">
                  {retentionError}
                </p>
              )}
            </div>
          </div>
          <label className="flex items-center gap-2 text-sm">
            <input
              type="checkbox"
              className="size-4"
              checked={volumes}
              onChange={(e) => {
                setEdited(true);
                setVolumes(e.target.checked);
              }}
            />
            Scheduled backups include volumes
          </label>
          <ErrorAlert error={settings.error ?? error} />
          {saved && <SuccessNote>Saved.</SuccessNote>}
          <Button type="submit" variant="outline" className="w-fit">
            Save schedule
          </Button>
        </form>
      </CardContent>
    </Card>
  );
}

function UploadBackup({ onDone }: { onDone: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const upload = async (file: File) => {
    setBusy(true);
    setError(null);
    try {
      await apiFetch("/api/v1/backups/upload", { method: "POST", headers: { "Content-Type": "application/gzip" }, body: file });
      onDone();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="mb-6 grid gap-2">
      <label className="flex w-fit cursor-pointer items-center gap-2 rounded-md border bg-card px-3 py-2 text-sm shadow-xs hover:bg-accent">
        <Upload className="size-4" />
        {busy ? "Uploading…" : "Upload an archive"}
        <input type="file" accept=".tar.gz,.tgz,application/gzip" className="sr-only" disabled={busy} onChange={(e) => e.target.files?.[0] && upload(e.target.files[0])} />
      </label>
      <ErrorAlert error={error} />
    </div>
  );
}
