import { useQuery } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";
import type { App } from "@/api/client";
import { Badge } from "@/components/ui/badge";
import { appBadge, updatesQuery } from "@/lib/updates";

const LABEL = { major: "major update", update: "update available", template: "template changed" } as const;

/** "update available" (digest, patch, minor), "major update", or "template changed" (its store
 * template changed; nothing applies it) for one app, from the last check (`GET /api/v1/updates`,
 * one cached query for the whole list); nothing when there is none of them. */
export function UpdateBadge({ app: given, className, link }: { app: App; className?: string; link?: boolean }) {
  const updates = useQuery(updatesQuery);
  const app = given.name ?? "";
  // an app updated since the check has no badge for what it already runs
  const badge = appBadge(updates.data?.updates ?? [], given);
  if (!badge) return null;
  const shown =
    badge === "major" ? (
      <Badge variant="warning" className={className} data-testid={`update-badge-${app}`} title="A new major version: it may need changes, read the release notes">
        {LABEL.major}
      </Badge>
    ) : badge === "update" ? (
      <Badge variant="default" className={className} data-testid={`update-badge-${app}`} title="A newer patch, minor version or image of the same tag">
        {LABEL.update}
      </Badge>
    ) : (
      <Badge variant="outline" className={className} data-testid={`update-badge-${app}`} title="The store template it was made from changed: see what changed on Updates; redeploying with it is your choice">
        {LABEL.template}
      </Badge>
    );
  return link ? (
    <Link to="/updates" className="leading-none" aria-label={`${LABEL[badge]}: see Updates`}>
      {shown}
    </Link>
  ) : (
    shown
  );
}
