import { useQuery } from "@tanstack/react-query";
import { createFileRoute, Link, Outlet, useNavigate, useRouterState } from "@tanstack/react-router";
import { ArrowLeft, ExternalLink } from "lucide-react";
import { useCallback } from "react";
import { ErrorAlert, Spinner, StatusBadge } from "@/components/common";
import { UpdateBadge } from "@/components/UpdateBadge";
import { Tabs, TabsList, TabsTrigger } from "@/components/ui/tabs";
import { statusWords } from "@/lib/appState";
import { useServerHost } from "@/hooks/useServerHost";
import { webUrl } from "@/lib/apps";
import { appQuery } from "@/lib/queries";

export const Route = createFileRoute("/_auth/apps/$name")({
  component: AppLayout,
});

const TABS = [
  { value: "", label: "Overview" },
  { value: "logs", label: "Logs" },
  { value: "compose", label: "Compose" },
  { value: "history", label: "History" },
  { value: "deployments", label: "Deployments" },
  { value: "terminal", label: "Terminal" },
] as const;

function AppLayout() {
  const { name } = Route.useParams();
  const navigate = useNavigate();
  const pathname = useRouterState({ select: (s) => s.location.pathname });
  const tab = pathname.split("/")[3] ?? "";
  const app = useQuery(appQuery(name));
  const host = useServerHost(app.data?.server);
  const url = app.data && host ? webUrl(app.data, { protocol: window.location.protocol, hostname: host }) : null;
  const keepInView = useCallback((el: HTMLButtonElement | null) => el?.scrollIntoView?.({ block: "nearest", inline: "nearest" }), []);

  return (
    <>
      <Link to="/apps" className="mb-4 inline-flex items-center gap-1 text-sm text-muted-foreground hover:text-foreground">
        <ArrowLeft className="size-4" /> All apps
      </Link>
      <div className="mb-5 flex flex-col gap-2 sm:flex-row sm:items-center sm:justify-between">
        <div className="flex min-w-0 flex-wrap items-center gap-3">
          <h1 className="truncate text-2xl font-semibold tracking-tight">{name}</h1>
          {app.data && <StatusBadge status={app.data.status} label={statusWords(app.data)} testId="app-status" />}
          {app.data && <UpdateBadge app={app.data} link />}
          {app.data?.template && <span className="text-sm text-muted-foreground">from {app.data.template}</span>}
          {app.data?.server && app.data.server !== "local" && (
            <span className="text-sm text-muted-foreground" data-testid="app-server">
              on server{" "}
              <Link to="/servers" className="text-primary hover:underline">
                {app.data.server}
              </Link>
            </span>
          )}
        </div>
        {url && (
          <a href={url} target="_blank" rel="noreferrer" className="inline-flex items-center gap-1 text-sm text-primary hover:underline">
            Open {url.replace(/\/$/, "")} <ExternalLink className="size-3.5" />
          </a>
        )}
      </div>
      <Tabs value={tab} onValueChange={(value) => navigate({ to: (value ? `/apps/$name/${value}` : "/apps/$name") as "/apps/$name", params: { name } })} activationMode="manual">
        {/* on a phone the tabs scroll sideways (every one reachable) and the current one is kept in view */}
        <TabsList className="mb-6 flex w-full justify-start overscroll-x-contain sm:inline-flex sm:w-auto" data-testid="app-tabs">
          {TABS.map((t) => (
            <TabsTrigger key={t.value} value={t.value} className="shrink-0" ref={t.value === tab ? keepInView : undefined}>
              {t.label}
            </TabsTrigger>
          ))}
        </TabsList>
      </Tabs>
      {/* a failed read again (a dropped connection, the app removed meanwhile) says so above the page
          and keeps it mounted: what the page holds (an edit being typed, secrets shown once) stays */}
      {app.isPending ? (
        <Spinner />
      ) : app.isError && !app.data ? (
        <ErrorAlert error={app.error} />
      ) : (
        <>
          {app.isError && <ErrorAlert error={app.error} className="mb-4" title="This app could not be read again; what is shown may be out of date." />}
          <Outlet />
        </>
      )}
    </>
  );
}
