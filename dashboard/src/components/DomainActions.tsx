import { RefreshCw, Trash2 } from "lucide-react";
import type { Domain } from "@/api/client";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { Button } from "@/components/ui/button";
import { useCan } from "@/lib/auth";

/** A domain's Renew and Remove, for operators and admins. Only an admin may take the console off
 * its domain (the server refuses anyone else), so others see no Remove there. */
export function DomainActions({ domain, renewing, onRenew, onRemove }: { domain: Domain; renewing: boolean; onRenew: () => void; onRemove: () => Promise<void> }) {
  const isAdmin = useCan("admin");
  const removable = !domain.console || isAdmin;
  return (
    <div className="flex items-center justify-end gap-2">
      {domain.https && (
        <Button variant="outline" size="sm" onClick={onRenew} disabled={renewing}>
          <RefreshCw className={renewing ? "animate-spin" : ""} />
          Renew
        </Button>
      )}
      {removable ? (
        <ConfirmDialog
          trigger={
            <Button variant="outline" size="sm" aria-label={`Remove ${domain.domain}`}>
              <Trash2 />
            </Button>
          }
          title={`Remove ${domain.domain}?`}
          description={domain.console ? "The console stops answering on this name (it stays on its own address)." : "The proxy stops answering for this name."}
          confirmVariant="destructive"
          onConfirm={onRemove}
        />
      ) : (
        <span className="text-xs text-muted-foreground">admins only</span>
      )}
    </div>
  );
}
