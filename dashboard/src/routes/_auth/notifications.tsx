import { useQuery, useQueryClient } from "@tanstack/react-query";
import { createFileRoute } from "@tanstack/react-router";
import { Bell, Loader2, Mail, Pencil, Plus, Send, Trash2, Webhook } from "lucide-react";
import { useState } from "react";
import { api, unwrap } from "@/api/client";
import { explainError } from "@/api/errors";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { EmptyState, ErrorAlert, PageHeader, Spinner, StatusBadge } from "@/components/common";
import { NotificationTargetForm } from "@/components/NotificationTargetForm";
import { Alert } from "@/components/ui/alert";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { Dialog, DialogContent, DialogDescription, DialogHeader, DialogTitle } from "@/components/ui/dialog";
import { useCan } from "@/lib/auth";
import { formatTime } from "@/lib/format";
import { deliverySummary, destination, failureText, EVENT_LABELS, type NotificationDelivery, type NotificationTarget } from "@/lib/notificationForm";

export const Route = createFileRoute("/_auth/notifications")({
  component: NotificationsPage,
});

const TARGETS_KEY = ["notification-targets"];

function NotificationsPage() {
  const isAdmin = useCan("admin");
  const queryClient = useQueryClient();
  const targets = useQuery({ queryKey: TARGETS_KEY, queryFn: () => unwrap(api.GET("/api/v1/notifications/targets")), enabled: isAdmin });
  const [editing, setEditing] = useState<NotificationTarget | "new" | null>(null);
  if (!isAdmin) return <ErrorAlert error={new Error("Notifications need the admin role.")} />;
  const list = targets.data?.targets ?? [];
  const kinds = targets.data?.event_kinds?.length ? targets.data.event_kinds : Object.keys(EVENT_LABELS);
  const saved = () => {
    setEditing(null);
    queryClient.invalidateQueries({ queryKey: TARGETS_KEY });
  };

  return (
    <>
      <PageHeader
        title="Notifications"
        description="Where AppOS reports failed deployments, automatic rollbacks, certificate trouble and unhealthy apps: signed webhooks or email."
        actions={
          <Button onClick={() => setEditing("new")} disabled={targets.isPending}>
            <Plus />
            Add target
          </Button>
        }
      />
      <ErrorAlert error={targets.error} className="mb-4" />
      {targets.isPending ? (
        <Spinner />
      ) : list.length === 0 && !targets.isError ? (
        <EmptyState>
          <Bell className="mx-auto mb-2 size-5" />
          No targets yet: nobody hears about failures. Add a webhook or an email target.
        </EmptyState>
      ) : (
        <div className="grid gap-4">
          {list.map((t) => (
            <TargetCard key={t.name} target={t} onEdit={() => setEditing(t)} />
          ))}
        </div>
      )}
      <Dialog open={editing !== null} onOpenChange={(open) => !open && setEditing(null)}>
        <DialogContent className="max-h-[90vh] max-w-2xl overflow-y-auto">
          <DialogHeader>
            <DialogTitle>{editing === "new" ? "New notification target" : `Edit ${editing?.name ?? ""}`}</DialogTitle>
            <DialogDescription>Secrets are write-only: AppOS keeps them and never shows them again.</DialogDescription>
          </DialogHeader>
          {editing !== null && (
            <NotificationTargetForm
              key={editing === "new" ? "new" : editing.name}
              eventKinds={kinds}
              existing={editing === "new" ? undefined : editing}
              onSaved={saved}
              onCancel={() => setEditing(null)}
            />
          )}
        </DialogContent>
      </Dialog>
    </>
  );
}

function TargetCard({ target, onEdit }: { target: NotificationTarget; onEdit: () => void }) {
  const queryClient = useQueryClient();
  const name = target.name ?? "";
  const [testing, setTesting] = useState(false);
  const [result, setResult] = useState<NotificationDelivery | null>(null);
  const [error, setError] = useState<unknown>(null);
  const Icon = target.kind === "email" ? Mail : Webhook;
  const secretSet = target.kind === "email" ? target.email?.password_set : target.webhook?.secret_set;
  const last = target.last_delivery;

  const test = async () => {
    setTesting(true);
    setError(null);
    setResult(null);
    try {
      setResult(await unwrap(api.POST("/api/v1/notifications/targets/{name}:test", { params: { path: { name } }, body: {} })));
      queryClient.invalidateQueries({ queryKey: TARGETS_KEY });
    } catch (err) {
      setError(err);
    } finally {
      setTesting(false);
    }
  };
  const remove = async () => {
    await unwrap(api.DELETE("/api/v1/notifications/targets/{name}", { params: { path: { name } } }));
    queryClient.invalidateQueries({ queryKey: TARGETS_KEY });
  };
  const summary = result ? deliverySummary(result) : null;

  return (
    <Card data-testid={`target-${name}`}>
      <CardHeader className="flex-row flex-wrap items-center gap-2">
        <Icon className="size-4 text-muted-foreground" />
        <CardTitle className="mr-auto">{name}</CardTitle>
        <Badge variant="outline">{target.kind}</Badge>
        <Badge variant={target.enabled ? "success" : "muted"}>{target.enabled ? "enabled" : "disabled"}</Badge>
      </CardHeader>
      <CardContent className="grid gap-4">
        <dl className="grid gap-x-4 gap-y-2 text-sm sm:grid-cols-[9rem_1fr]">
          <dt className="text-muted-foreground">Sends to</dt>
          <dd className="min-w-0 font-mono text-xs break-all">{destination(target)}</dd>
          {target.kind === "email" && (
            <>
              <dt className="text-muted-foreground">SMTP</dt>
              <dd>
                {target.email?.security}
                {target.email?.username ? `, as ${target.email.username}` : ", no login"} · from {target.email?.from_address}
              </dd>
            </>
          )}
          <dt className="text-muted-foreground">{target.kind === "email" ? "Password" : "Secret"}</dt>
          <dd data-testid={`secret-${name}`}>{target.kind === "email" && !target.email?.username ? "not needed" : secretSet ? "set" : "not set"}</dd>
          <dt className="text-muted-foreground">Events</dt>
          <dd className="flex flex-wrap gap-1">
            {(target.events ?? []).map((e) => (
              <Badge key={e} variant="muted" title={EVENT_LABELS[e]}>
                {e}
              </Badge>
            ))}
          </dd>
          <dt className="text-muted-foreground">Last delivery</dt>
          <dd className="min-w-0">
            {last?.status ? (
              <span className="flex flex-wrap items-center gap-2">
                <StatusBadge status={last.status} />
                <span className="text-muted-foreground">
                  {last.event} · {formatTime(last.at)}
                </span>
                {last.status !== "delivered" && (
                  <span className="break-words text-destructive" title={deliverySummary(last).text}>
                    {explainError(failureText(last)).summary}
                  </span>
                )}
              </span>
            ) : (
              <span className="text-muted-foreground">never</span>
            )}
          </dd>
        </dl>
        <div className="flex flex-wrap gap-2">
          <Button variant="outline" size="sm" onClick={test} disabled={testing}>
            {testing ? <Loader2 className="animate-spin" /> : <Send />}
            {testing ? "Sending…" : "Send test"}
          </Button>
          <Button variant="outline" size="sm" onClick={onEdit}>
            <Pencil />
            Edit
          </Button>
          <ConfirmDialog
            trigger={
              <Button variant="outline" size="sm" className="text-destructive hover:text-destructive">
                <Trash2 />
                Delete
              </Button>
            }
            title={`Delete ${name}?`}
            description="It receives nothing from now on; its secret is gone with it."
            confirmVariant="destructive"
            onConfirm={remove}
          />
        </div>
        {summary?.ok && (
          <Alert variant="success" data-testid="test-result">
            <span className="break-words">Test notification: {summary.text}</span>
          </Alert>
        )}
        {result && summary && !summary.ok && (
          <div data-testid="test-result">
            <ErrorAlert
              error={failureText(result)}
              title="The test notification was not delivered"
              actions={
                <>
                  <Button size="sm" onClick={test} disabled={testing}>
                    <Send />
                    Send again
                  </Button>
                  <Button size="sm" variant="outline" onClick={onEdit}>
                    <Pencil />
                    Edit the target
                  </Button>
                </>
              }
            />
          </div>
        )}
        <ErrorAlert error={error} />
      </CardContent>
    </Card>
  );
}
