import { Link } from "@tanstack/react-router";
import type { ReactNode } from "react";
import { splitTemplateName } from "@/lib/stores";

/** A link to a template's page: `/catalog/<name>` for AppOS's own, `/catalog/<store>/<name>` for a
 * store's (two path segments, so a reload or a shared link opens it as it is). */
export function TemplateLink({ name, className, children, testId }: { name: string; className?: string; children?: ReactNode; testId?: string }) {
  const { store, template } = splitTemplateName(name);
  if (store) {
    return (
      <Link to="/catalog/$store/$template" params={{ store, template }} className={className} data-testid={testId}>
        {children ?? name}
      </Link>
    );
  }
  return (
    <Link to="/catalog/$template" params={{ template }} className={className} data-testid={testId}>
      {children ?? name}
    </Link>
  );
}
