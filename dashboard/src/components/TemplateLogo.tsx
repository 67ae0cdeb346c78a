import type { Template } from "@/api/client";
import { cn } from "@/lib/utils";

export function TemplateLogo({ template, className }: { template: Template; className?: string }) {
  const initials = (template.title || template.name || "?").slice(0, 2);
  return (
    <span className={cn("relative flex size-11 shrink-0 items-center justify-center overflow-hidden rounded-lg bg-accent text-sm font-semibold uppercase text-accent-foreground", className)}>
      <span aria-hidden>{initials}</span>
      {template.logo && template.logo.startsWith("/") && <img src={template.logo} alt="" className="absolute inset-0 size-full bg-card object-contain p-1.5" onError={(e) => (e.currentTarget.style.display = "none")} />}
    </span>
  );
}
