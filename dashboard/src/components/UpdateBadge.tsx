import { useQuery } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";
import type { App } from "@/api/client";
import { Badge } from "@/components/ui/badge";
import { appBadge, updatesQuery } from "@/lib/updates";

/** "update available" (digest, patch, minor) or "major update" for one app, from the last check
 * (`GET /api/v1/updates`, one cached query for the whole list); nothing when there is neither. */
export function UpdateBadge({ app: given, className, link }: { app: App; className?: string; link?: boolean }) {
  const updates = useQuery(updatesQuery);
  const app = given.name ?? "";
  // an app updated since the check has no badge for what it already runs
  const badge = appBadge(updates.data?.updates ?? [], given);
  if (!badge) return null;
  const shown = badge === "major" ? (
    <Badge variant="warning" className={className} data-testid={`update-badge-${app}`} title="A new major version: it may need changes, read the release notes">
      major update
    </Badge>
  ) : (
    <Badge variant="default" className={className} data-testid={`update-badge-${app}`} title="A newer patch, minor version or image of the same tag">
      update available
    </Badge>
  );
  return link ? (
    <Link to="/updates" className="leading-none" aria-label={`${badge === "major" ? "major update" : "update available"}: see Updates`}>
      {shown}
    </Link>
  ) : (
    shown
  );
}
