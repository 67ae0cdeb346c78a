import type { Template } from "@/api/client";
import { TEMPLATE_ICONS } from "@/lib/catalog";
import { cn } from "@/lib/utils";

/** A template's logo from Simple Icons in its brand colour, or its initials when it has none. */
export function TemplateLogo({ template, className }: { template: Template; className?: string }) {
  const icon = TEMPLATE_ICONS[template.name ?? ""];
  const initials = (template.title || template.name || "?").slice(0, 2);
  return (
    <span
      data-testid={`logo-${template.name}`}
      data-logo={icon ? "icon" : "initials"}
      className={cn("relative flex size-11 shrink-0 items-center justify-center overflow-hidden rounded-lg bg-accent text-sm font-semibold uppercase text-accent-foreground", className)}
    >
      {icon ? (
        <svg role="img" viewBox="0 0 24 24" aria-label={`${icon.title} logo`} className="size-6" fill={`#${icon.hex}`}>
          <path d={icon.path} />
        </svg>
      ) : (
        <span aria-hidden>{initials}</span>
      )}
    </span>
  );
}
