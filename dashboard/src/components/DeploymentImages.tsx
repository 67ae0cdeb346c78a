import type { Schemas } from "@/api/client";

type ServiceImage = Schemas["ServiceImage"];

/** `sha256:0123456789ab`: enough to tell two images apart. */
export function shortDigest(digest: string | undefined): string {
  const [algorithm, value] = (digest ?? "").split(":", 2);
  return value ? `${algorithm}:${value.slice(0, 12)}` : "digest unknown";
}

/**
 * What a deployment ran, one row per service: the image its compose file names and the digest it
 * actually ran (a rollback runs these again even when the tag has moved since). "built here" marks a
 * local image ID, which no registry knows. Nothing is shown before a deployment succeeded.
 */
export function DeploymentImages({ images }: { images: ServiceImage[] | undefined }) {
  if (!images?.length) return null;
  return (
    <div className="rounded-lg border bg-card px-4 py-3 text-sm" data-testid="deployment-images">
      <p className="mb-1 font-medium">What ran</p>
      <dl className="grid grid-cols-[auto_1fr] gap-x-3 gap-y-1">
        {images.map((i) => (
          <div key={i.service} className="contents">
            <dt className="text-muted-foreground">{i.service}</dt>
            <dd className="min-w-0 break-all font-mono text-xs" title={i.digest}>
              {i.image} · {shortDigest(i.digest)}
              {i.digest && i.digest === i.image_id ? " (built here)" : ""}
            </dd>
          </div>
        ))}
      </dl>
    </div>
  );
}
