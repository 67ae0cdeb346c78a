import { useQuery, useQueryClient } from "@tanstack/react-query";
import { createFileRoute } from "@tanstack/react-router";
import { Plus } from "lucide-react";
import { useState, type FormEvent } from "react";
import { api, unwrap } from "@/api/client";
import { explainError } from "@/api/errors";
import { DomainActions } from "@/components/DomainActions";
import { EmptyState, ErrorAlert, PageHeader, Spinner, StatusBadge } from "@/components/common";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Input, NativeSelect } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Table, TBody, TD, TH, THead, TR } from "@/components/ui/table";
import { webBinding } from "@/lib/apps";
import { useCan } from "@/lib/auth";
import { formatTime } from "@/lib/format";
import { appsQuery, domainsQuery } from "@/lib/queries";

export const Route = createFileRoute("/_auth/domains")({
  component: DomainsPage,
});

function DomainsPage() {
  const canAct = useCan("operator");
  const queryClient = useQueryClient();
  const domains = useQuery(domainsQuery);
  const [renewing, setRenewing] = useState<string | null>(null);
  const [renewError, setRenewError] = useState<unknown>(null);
  const list = domains.data?.domains ?? [];

  const renew = async (domain: string) => {
    setRenewing(domain);
    setRenewError(null);
    try {
      await unwrap(api.POST("/api/v1/proxy/domains/{domain}/certificate", { params: { path: { domain } }, body: {} }));
      queryClient.invalidateQueries({ queryKey: ["domains"] });
    } catch (err) {
      setRenewError(err);
    } finally {
      setRenewing(null);
    }
  };
  const remove = async (domain: string) => {
    await unwrap(api.DELETE("/api/v1/proxy/domains/{domain}", { params: { path: { domain } } }));
    queryClient.invalidateQueries({ queryKey: ["domains"] });
  };

  return (
    <>
      <PageHeader title="Domains" description="Names that reach your apps through the built-in proxy, with automatic HTTPS certificates." />
      {canAct && <AddDomain />}
      <ErrorAlert error={domains.error ?? renewError} className="mb-4" />
      {domains.isPending ? (
        <Spinner />
      ) : list.length === 0 ? (
        <EmptyState>No domains yet.</EmptyState>
      ) : (
        <div className="rounded-xl border bg-card shadow-xs">
          <Table>
            <THead>
              <TR>
                <TH>Domain</TH>
                <TH>Goes to</TH>
                <TH>Certificate</TH>
                <TH className="hidden md:table-cell">Expires</TH>
                {canAct && <TH className="text-right">Actions</TH>}
              </TR>
            </THead>
            <TBody>
              {list.map((d) => {
                const cert = d.certificate;
                return (
                  <TR key={d.domain}>
                    <TD>
                      <a href={`${d.https ? "https" : "http"}://${d.domain}/`} target="_blank" rel="noreferrer" className="font-medium text-primary hover:underline">
                        {d.domain}
                      </a>
                      <div className="text-xs text-muted-foreground">{d.https ? (d.force_https ? "HTTPS (HTTP redirects)" : "HTTPS and HTTP") : "HTTP only"}</div>
                    </TD>
                    <TD className="text-sm">
                      {d.console ? "the AppOS console" : `${d.app} / ${d.service}:${d.port}`}
                      {d.upstream && <div className="font-mono text-xs text-muted-foreground">{d.upstream}</div>}
                    </TD>
                    <TD>
                      {d.https ? <StatusBadge status={cert?.status || "pending"} /> : <StatusBadge status="none" />}
                      {cert?.reason && <div className="max-w-64 truncate text-xs text-muted-foreground" title={cert.reason}>{cert.reason}</div>}
                    </TD>
                    <TD className="hidden text-sm md:table-cell">
                      {cert?.not_after ? (
                        <>
                          {formatTime(cert.not_after)}
                          {cert.days_left !== undefined && <div className="text-xs text-muted-foreground">{cert.days_left} days left</div>}
                        </>
                      ) : (
                        "—"
                      )}
                    </TD>
                    {canAct && (
                      <TD>
                        <DomainActions domain={d} renewing={renewing === d.domain} onRenew={() => renew(d.domain ?? "")} onRemove={() => remove(d.domain ?? "")} />
                      </TD>
                    )}
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

function AddDomain() {
  const queryClient = useQueryClient();
  const apps = useQuery(appsQuery);
  const [domain, setDomain] = useState("");
  const [app, setApp] = useState("");
  const [service, setService] = useState("");
  const [port, setPort] = useState("");
  const [https, setHttps] = useState(true);
  const [forceHttps, setForceHttps] = useState(true);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const appList = apps.data?.apps ?? [];
  const chosen = appList.find((a) => a.name === app);
  const services = [...new Set((chosen?.services ?? []).map((s) => s.service ?? ""))].filter(Boolean);

  const pickApp = (name: string) => {
    setApp(name);
    const a = appList.find((x) => x.name === name);
    setService(a?.web_service || a?.services?.[0]?.service || "");
    const binding = a ? webBinding(a) : null;
    setPort(binding ? String(binding.container) : "");
  };

  const add = async (withHttps: boolean) => {
    setBusy(true);
    setError(null);
    try {
      await unwrap(
        api.POST("/api/v1/proxy/domains", {
          body: { domain: domain.trim().toLowerCase(), app, service, port: Number(port), https: withHttps, force_https: withHttps && forceHttps },
        }),
      );
      setDomain("");
      queryClient.invalidateQueries({ queryKey: ["domains"] });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    void add(https);
  };
  // a name that does not resolve (yet): check again once DNS is set, or serve it without HTTPS now
  const unresolved = error !== null && explainError(error).kind === "name_unresolved";
  const nextSteps = unresolved ? (
    <>
      <Button type="button" size="sm" onClick={() => void add(https)} disabled={busy}>
        Check again
      </Button>
      {https && (
        <Button
          type="button"
          size="sm"
          variant="outline"
          disabled={busy}
          onClick={() => {
            setHttps(false);
            void add(false);
          }}
        >
          Add it without HTTPS for now
        </Button>
      )}
    </>
  ) : undefined;

  return (
    <Card className="mb-6">
      <CardHeader>
        <CardTitle>Add a domain</CardTitle>
        <CardDescription>For HTTPS the name must resolve to this server and port 80 must be reachable; AppOS checks both.</CardDescription>
      </CardHeader>
      <CardContent>
        <form onSubmit={submit} className="grid gap-4">
          <div className="grid gap-4 sm:grid-cols-2 lg:grid-cols-4">
            <div className="grid gap-1.5">
              <Label htmlFor="domain-name">Domain</Label>
              <Input id="domain-name" placeholder="blog.example.com" value={domain} onChange={(e) => setDomain(e.target.value)} required />
            </div>
            <div className="grid gap-1.5">
              <Label htmlFor="domain-app">App</Label>
              <NativeSelect id="domain-app" value={app} onChange={(e) => pickApp(e.target.value)} required>
                <option value="">Choose an app</option>
                {appList.map((a) => (
                  <option key={a.name} value={a.name}>
                    {a.name}
                  </option>
                ))}
              </NativeSelect>
            </div>
            <div className="grid gap-1.5">
              <Label htmlFor="domain-service">Service</Label>
              <NativeSelect id="domain-service" value={service} onChange={(e) => setService(e.target.value)} required disabled={!services.length}>
                {services.map((s) => (
                  <option key={s} value={s}>
                    {s}
                  </option>
                ))}
              </NativeSelect>
            </div>
            <div className="grid gap-1.5">
              <Label htmlFor="domain-port">Container port</Label>
              <Input id="domain-port" type="number" min={1} max={65535} value={port} onChange={(e) => setPort(e.target.value)} required />
            </div>
          </div>
          <div className="flex flex-wrap items-center gap-5 text-sm">
            <label className="flex items-center gap-2">
              <input type="checkbox" className="size-4" checked={https} onChange={(e) => setHttps(e.target.checked)} />
              HTTPS (certificate from the ACME CA)
            </label>
            <label className="flex items-center gap-2">
              <input type="checkbox" className="size-4" checked={forceHttps} disabled={!https} onChange={(e) => setForceHttps(e.target.checked)} />
              Redirect HTTP to HTTPS
            </label>
          </div>
          <ErrorAlert error={error} actions={nextSteps} />
          <div className="flex items-center gap-3">
            <Button type="submit" disabled={busy}>
              <Plus />
              {busy ? "Adding…" : "Add domain"}
            </Button>
            {busy && <Spinner label="Checking the name and applying the proxy config…" />}
          </div>
        </form>
      </CardContent>
    </Card>
  );
}
