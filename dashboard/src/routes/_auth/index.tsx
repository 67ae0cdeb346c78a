import { useQuery } from "@tanstack/react-query";
import { createFileRoute, Link } from "@tanstack/react-router";
import { api, unwrap } from "@/api/client";
import { explainError } from "@/api/errors";
import { EmptyState, ErrorAlert, PageHeader, StatusBadge } from "@/components/common";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { formatBytes, timeAgo } from "@/lib/format";
import { appsByStatus, certificatesNeedingAttention, hostSeries, recentFailures, type Series } from "@/lib/overview";
import { appsQuery, domainsQuery } from "@/lib/queries";

export const Route = createFileRoute("/_auth/")({
  component: OverviewPage,
});

const HOUR_MS = 3_600_000;

/** One metric of the last hour as an SVG area plot, 0–100 %. */
function Plot({ series, colour, label }: { series: Series; colour: string; label: string }) {
  const width = 300;
  const height = 64;
  const end = series.t[series.t.length - 1] ?? Date.now();
  const x = (t: number) => Math.max(0, ((t - (end - HOUR_MS)) / HOUR_MS) * width);
  const y = (v: number) => height - (Math.min(v, 100) / 100) * (height - 2) - 1;
  const points = series.t.map((t, i) => `${x(t).toFixed(1)},${y(series.values[i]).toFixed(1)}`);
  return (
    <svg viewBox={`0 0 ${width} ${height}`} preserveAspectRatio="none" className="h-16 w-full" role="img" aria-label={`${label}, last hour`}>
      {points.length > 1 && (
        <>
          <polygon points={`${points[0].split(",")[0]},${height} ${points.join(" ")} ${points[points.length - 1].split(",")[0]},${height}`} fill={colour} opacity={0.15} />
          <polyline points={points.join(" ")} fill="none" stroke={colour} strokeWidth={1.5} vectorEffect="non-scaling-stroke" />
        </>
      )}
    </svg>
  );
}

function Metric({ title, testId, value, detail, series, colour }: { title: string; testId: string; value: string; detail: string; series: Series; colour: string }) {
  return (
    <Card className="gap-2">
      <CardHeader>
        <CardDescription>{title}</CardDescription>
        <CardTitle className="text-2xl" data-testid={testId}>
          {value}
        </CardTitle>
      </CardHeader>
      <CardContent>
        <Plot series={series} colour={colour} label={title} />
        <p className="mt-1 text-xs text-muted-foreground">{detail}</p>
      </CardContent>
    </Card>
  );
}

/** The home page: the server's load over the last hour, the apps by status, and what needs someone. */
function OverviewPage() {
  // polled: the server's load is sampled, not an event
  const host = useQuery({ queryKey: ["host-stats"], queryFn: () => unwrap(api.GET("/api/v1/system/host-stats")), refetchInterval: 15_000 });
  const apps = useQuery(appsQuery);
  const domains = useQuery(domainsQuery);
  const deployments = useQuery({
    queryKey: ["deployments", "", "overview"],
    queryFn: () => unwrap(api.GET("/api/v1/deployments", { params: { query: { page_size: 100 } } })),
  });
  const samples = host.data?.samples ?? [];
  const last = samples[samples.length - 1];
  const series = hostSeries(samples);
  const pct = (s: Series) => (s.values.length ? `${s.values[s.values.length - 1].toFixed(0)} %` : "—");
  const failures = recentFailures(deployments.data?.deployments ?? []);
  const certificates = certificatesNeedingAttention(domains.data?.domains ?? []);
  const byStatus = appsByStatus(apps.data?.apps ?? []);

  return (
    <>
      <PageHeader title="Overview" description="This server, its apps, and what needs you." />
      <ErrorAlert error={host.error} className="mb-4" />
      <section aria-label="Server" className="mb-6 grid gap-4 md:grid-cols-3">
        <Metric title="CPU" testId="host-cpu" value={pct(series.cpu)} detail={`${host.data?.cpu_count ?? "?"} cores · last hour`} series={series.cpu} colour="oklch(0.55 0.2 265)" />
        <Metric
          title="Memory"
          testId="host-memory"
          value={pct(series.memory)}
          detail={last ? `${formatBytes(Number(last.memory_used_bytes))} of ${formatBytes(Number(last.memory_total_bytes))}` : "—"}
          series={series.memory}
          colour="oklch(0.6 0.16 155)"
        />
        <Metric
          title="Disk (AppOS data)"
          testId="host-disk"
          value={pct(series.disk)}
          detail={last ? `${formatBytes(Number(last.disk_used_bytes))} of ${formatBytes(Number(last.disk_total_bytes))}` : "—"}
          series={series.disk}
          colour="oklch(0.65 0.15 60)"
        />
      </section>
      <div className="grid gap-4 lg:grid-cols-3">
        <Card>
          <CardHeader>
            <CardTitle>Apps</CardTitle>
            <CardDescription>{apps.data ? `${apps.data.apps?.length ?? 0} in all` : "…"}</CardDescription>
          </CardHeader>
          <CardContent>
            {byStatus.length === 0 ? (
              <EmptyState>
                No apps yet. <Link to="/catalog" className="text-primary hover:underline">Pick one from the catalog</Link>
              </EmptyState>
            ) : (
              <ul className="grid gap-2" data-testid="apps-by-status">
                {byStatus.map(([status, count]) => (
                  <li key={status} className="flex items-center justify-between text-sm">
                    <StatusBadge status={status} />
                    <Link to="/apps" className="font-medium hover:underline">
                      {count}
                    </Link>
                  </li>
                ))}
              </ul>
            )}
          </CardContent>
        </Card>
        <Card>
          <CardHeader>
            <CardTitle>Failed deployments</CardTitle>
            <CardDescription>The last 7 days</CardDescription>
          </CardHeader>
          <CardContent>
            {failures.length === 0 ? (
              <p className="text-sm text-muted-foreground" data-testid="no-failures">
                None. Every deployment of the last week worked.
              </p>
            ) : (
              <ul className="grid gap-3" data-testid="failed-deployments">
                {failures.map((d) => (
                  <li key={d.id} className="text-sm">
                    <Link to="/apps/$name/deployments/$id" params={{ name: d.app ?? "", id: d.id ?? "" }} className="font-medium text-primary hover:underline">
                      {d.app}
                    </Link>{" "}
                    <span className="text-muted-foreground">· {timeAgo(d.created_at)}</span>
                    {d.reason && (
                      <p className="line-clamp-2 text-xs text-muted-foreground" title={d.reason}>
                        {explainError(d.reason).summary}
                      </p>
                    )}
                  </li>
                ))}
              </ul>
            )}
          </CardContent>
        </Card>
        <Card>
          <CardHeader>
            <CardTitle>Certificates</CardTitle>
            <CardDescription>Expiring soon or failed</CardDescription>
          </CardHeader>
          <CardContent>
            {certificates.length === 0 ? (
              <p className="text-sm text-muted-foreground" data-testid="no-certificate-trouble">
                None. {domains.data?.domains?.length ? "Every certificate is fine." : "No domains yet."}
              </p>
            ) : (
              <ul className="grid gap-2" data-testid="certificate-trouble">
                {certificates.map((d) => (
                  <li key={d.domain} className="flex flex-wrap items-center gap-2 text-sm">
                    <Link to="/domains" className="font-medium text-primary hover:underline">
                      {d.domain}
                    </Link>
                    <StatusBadge status={d.certificate?.status} />
                    {d.certificate?.days_left ? <span className="text-xs text-muted-foreground">{d.certificate.days_left} days left</span> : null}
                  </li>
                ))}
              </ul>
            )}
          </CardContent>
        </Card>
      </div>
    </>
  );
}
