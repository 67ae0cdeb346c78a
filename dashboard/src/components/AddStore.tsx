import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, unwrap } from "@/api/client";
import { AddFormCard, useAdding } from "@/components/AddFormCard";
import { Input, NativeSelect } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { STORE_FORMATS, formatName, suggestStoreName, validateStoreName, type StoreDetail } from "@/lib/stores";

function addedWords(store: StoreDetail): string {
  const templates = store.templates ?? 0;
  const skipped = store.skipped?.length ?? 0;
  return `Added ${store.name} (${formatName(store.format)}): ${templates} ${templates === 1 ? "template" : "templates"}, ${skipped} skipped.`;
}

/** The admin's "Add store" form. Fetching and converting a store can take many seconds (a git
 * clone, an archive download); the form stays filled in when the server refuses, with its reason. */
export function AddStore({ onAdded }: { onAdded?: (store: StoreDetail) => void }) {
  const queryClient = useQueryClient();
  const [url, setUrl] = useState("");
  const [name, setName] = useState("");
  const [nameEdited, setNameEdited] = useState(false);
  const [format, setFormat] = useState("");
  const [nameError, setNameError] = useState<string | null>(null);
  const { busy, error, added, run } = useAdding(
    () =>
      unwrap(
        api.POST("/api/v1/catalog/stores", {
          body: { name, url: url.trim(), format },
        }),
      ),
    (store) => {
      setUrl("");
      setName("");
      setNameEdited(false);
      setFormat("");
      queryClient.invalidateQueries({ queryKey: ["stores"] });
      queryClient.invalidateQueries({ queryKey: ["catalog"] });
      onAdded?.(store);
    },
  );

  const changeUrl = (value: string) => {
    setUrl(value);
    if (!nameEdited) setName(suggestStoreName(value));
  };

  const submit = () => {
    const badName = validateStoreName(name);
    setNameError(badName);
    if (!badName) void run();
  };

  return (
    <AddFormCard
      title="Add a store"
      description="A git repository, an https:// URL of a .zip or .tar.gz archive, or the absolute path of a folder on this server. Every entry either becomes a template or is listed as skipped with its reason."
      onSubmit={submit}
      busy={busy}
      error={error}
      errorTitle="The store was not added."
      submitLabel="Add store"
      canSubmit={!!url.trim()}
      busyNote="Fetching the store and converting its apps; a large repository can take a minute…"
      addedNote={added ? addedWords(added) : null}
    >
      <div className="grid gap-4 md:grid-cols-[2fr_1fr_1fr]">
        <div className="grid gap-1.5">
          <Label htmlFor="store-url">URL</Label>
          <Input
            id="store-url"
            placeholder="https://github.com/IceWhaleTech/CasaOS-AppStore.git"
            value={url}
            onChange={(e) => changeUrl(e.target.value)}
            required
            disabled={busy}
            autoComplete="off"
            spellCheck={false}
          />
        </div>
        <div className="grid gap-1.5">
          <Label htmlFor="store-name">Name</Label>
          <Input
            id="store-name"
            placeholder="casaos"
            value={name}
            aria-invalid={nameError ? true : undefined}
            aria-describedby="store-name-help"
            onChange={(e) => {
              setName(e.target.value.trim().toLowerCase());
              setNameEdited(true);
            }}
            required
            disabled={busy}
            autoComplete="off"
          />
        </div>
        <div className="grid gap-1.5">
          <Label htmlFor="store-format">Format</Label>
          <NativeSelect id="store-format" value={format} onChange={(e) => setFormat(e.target.value)} disabled={busy}>
            <option value="">Detect automatically</option>
            {STORE_FORMATS.map((f) => (
              <option key={f.value} value={f.value}>
                {f.label}
              </option>
            ))}
          </NativeSelect>
        </div>
      </div>
      <p id="store-name-help" className={nameError ? "-mt-2 text-xs text-destructive" : "-mt-2 text-xs text-muted-foreground"}>
        {nameError ?? "The name prefixes its templates in the catalog (name/app): lowercase letters, digits and '-'."}
      </p>
    </AddFormCard>
  );
}
