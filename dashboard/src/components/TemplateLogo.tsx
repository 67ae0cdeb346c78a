import type { Template } from "@/api/client";
import { TEMPLATE_ICONS } from "@/lib/catalog";
import { cn } from "@/lib/utils";

/** A template's logo from Simple Icons in its brand colour, or its initials when it has none. A
 * store's `<store>/<name>` gets the logo of its `<name>` (the store's own logo URL is another site's,
 * which the console's Content-Security-Policy does not load). */
export function TemplateLogo({ template, className }: { template: Template; className?: string }) {
  const name = template.name ?? "";
  const icon = TEMPLATE_ICONS[name] ?? TEMPLATE_ICONS[name.slice(name.indexOf("/") + 1)];
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
