import { queryOptions, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useNavigate } from "@tanstack/react-router";
import { ArrowLeft, ExternalLink, Info, Rocket } from "lucide-react";
import { useEffect, useMemo, useState, type FormEvent } from "react";
import { api, unwrap } from "@/api/client";
import { CodeEditor } from "@/components/CodeEditor";
import { ErrorAlert, Spinner } from "@/components/common";
import { TemplateLogo } from "@/components/TemplateLogo";
import { categoryName } from "@/lib/catalog";
import { SettingsFields } from "@/components/SettingsForm";
import { Alert } from "@/components/ui/alert";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { useCan } from "@/lib/auth";
import { keepGenerated } from "@/lib/oneTime";
import { initialValues, settingFields, settingsPayload, validateAppName, validateSettings, type SettingErrors, type SettingValues } from "@/lib/settingsForm";
import { communityLabel, defaultAppName, isCommunity, splitTemplateName } from "@/lib/stores";

/** A template by its full name: `GET /api/v1/catalog/{template}` for AppOS's own,
 * `/api/v1/catalog/{store}/{template}` for a store's `<store>/<name>`. */
const templateQuery = (name: string) =>
  queryOptions({
    queryKey: ["template", name],
    queryFn: () => {
      const { store, template } = splitTemplateName(name);
      return store
        ? unwrap(api.GET("/api/v1/catalog/{store}/{template}", { params: { path: { store, template } } }))
        : unwrap(api.GET("/api/v1/catalog/{template}", { params: { path: { template } } }));
    },
  });

/** A template's page: what it is, where it comes from (a store's: community, not reviewed, and
 * what the conversion changed), its settings form and Deploy, and its compose file. */
export function TemplateDetail({ name }: { name: string }) {
  const canDeploy = useCan("operator");
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const template = useQuery(templateQuery(name));
  const fields = useMemo(() => settingFields(template.data?.settings), [template.data]);
  const [appName, setAppName] = useState("");
  const [values, setValues] = useState<SettingValues>({});
  const [errors, setErrors] = useState<SettingErrors>({});
  const [nameError, setNameError] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [showCompose, setShowCompose] = useState(false);

  useEffect(() => {
    setValues(initialValues(fields));
    setAppName((current) => current || defaultAppName(name));
  }, [fields, name]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const badName = validateAppName(appName);
    const badSettings = validateSettings(fields, values);
    setNameError(badName);
    setErrors(badSettings);
    if (badName || Object.keys(badSettings).length) return;
    setBusy(true);
    setError(null);
    try {
      const reply = await unwrap(api.POST("/api/v1/apps", { body: { name: appName, template: name, settings: settingsPayload(fields, values) } }));
      const id = reply.deployment?.id ?? "";
      keepGenerated(id, reply.generated);
      queryClient.invalidateQueries({ queryKey: ["apps"] });
      await navigate({ to: "/apps/$name/deployments/$id", params: { name: appName, id } });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  if (template.isPending) return <Spinner />;
  if (template.isError) return <ErrorAlert error={template.error} />;
  const t = template.data;
  const store = isCommunity(t) ? t.store || splitTemplateName(name).store : "";
  const notes = t.notes ?? [];

  return (
    <>
      <Link to="/catalog" search={store ? { store } : {}} className="mb-4 inline-flex items-center gap-1 text-sm text-muted-foreground hover:text-foreground">
        <ArrowLeft className="size-4" /> {store ? `${store}'s templates` : "All templates"}
      </Link>
      <div className="mb-6 flex items-start gap-4">
        <TemplateLogo template={t} className="size-14 text-base" />
        <div className="min-w-0">
          <h1 className="text-2xl font-semibold tracking-tight">{t.title || t.name}</h1>
          <p className="mt-1 text-sm text-muted-foreground">{t.description}</p>
          <div className="mt-2 flex flex-wrap items-center gap-2 text-xs">
            {store && (
              <Link to="/stores" search={{ store }} title="From an app store an admin added: it passes the same checks as any app, but AppOS has not reviewed it">
                <Badge variant="warning" data-testid="community-badge">{communityLabel(store)}</Badge>
              </Link>
            )}
            {t.category && <Badge variant="muted">{categoryName(t.category)}</Badge>}
            {t.web_port ? <Badge variant="outline">web UI: {t.web_service}:{t.web_port}</Badge> : null}
            {t.website && (
              <a href={t.website} target="_blank" rel="noreferrer" className="inline-flex items-center gap-1 text-primary hover:underline">
                Website <ExternalLink className="size-3" />
              </a>
            )}
          </div>
        </div>
      </div>

      {notes.length > 0 && (
        <Alert variant="info" className="mb-6" data-testid="template-notes">
          <Info className="mt-0.5 text-primary" />
          <div className="min-w-0">
            <p className="font-medium">What AppOS changed when it converted this app from {store || "its store"}</p>
            <ul className="mt-1 list-disc space-y-0.5 pl-5">
              {notes.map((note, i) => (
                <li key={i}>{note}</li>
              ))}
            </ul>
          </div>
        </Alert>
      )}

      <form onSubmit={submit} noValidate className="grid gap-6">
        <Card>
          <CardHeader>
            <CardTitle>Settings</CardTitle>
            <CardDescription>Passwords left empty are generated and shown once after the deploy.</CardDescription>
          </CardHeader>
          <CardContent className="grid gap-5">
            <div className="grid max-w-sm gap-1.5">
              <Label htmlFor="app-name">App name</Label>
              <Input
                id="app-name"
                value={appName}
                aria-invalid={nameError ? true : undefined}
                aria-describedby="app-name-help"
                onChange={(e) => setAppName(e.target.value.trim().toLowerCase())}
                disabled={!canDeploy}
              />
              <p id="app-name-help" className={nameError ? "text-xs text-destructive" : "text-xs text-muted-foreground"}>
                {nameError ?? "Lowercase letters, digits and '-'; it names the app's containers."}
              </p>
            </div>
            {fields.length ? (
              <SettingsFields fields={fields} values={values} errors={errors} onChange={(key, value) => setValues((v) => ({ ...v, [key]: value }))} disabled={!canDeploy} />
            ) : (
              <p className="text-sm text-muted-foreground">This template has no settings.</p>
            )}
            {Object.keys(errors).length > 0 && (
              <p role="alert" className="text-sm text-destructive">
                Some settings need attention.
              </p>
            )}
            <ErrorAlert error={error} />
            {canDeploy ? (
              <div className="flex items-center gap-3">
                <Button type="submit" disabled={busy}>
                  <Rocket />
                  {busy ? "Deploying…" : "Deploy"}
                </Button>
                {busy && <Spinner label="Checking the settings and queueing the deployment…" />}
              </div>
            ) : (
              <p className="text-sm text-muted-foreground">Your role (viewer) can look but not deploy.</p>
            )}
          </CardContent>
        </Card>
      </form>

      <div className="mt-6">
        <Button variant="outline" size="sm" onClick={() => setShowCompose(!showCompose)} aria-expanded={showCompose}>
          {showCompose ? "Hide" : "Show"} compose.yaml
        </Button>
        {showCompose && (
          <div className="mt-3">
            <CodeEditor value={t.compose ?? ""} language="yaml" readOnly label="Template compose.yaml" />
          </div>
        )}
      </div>
    </>
  );
}
