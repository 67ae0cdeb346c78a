import { Link } from "@tanstack/react-router";
import { AddStore } from "@/components/AddStore";
import { PageHeader } from "@/components/common";
import { StoresList } from "@/components/StoresList";
import { useCan } from "@/lib/auth";

/** App stores: the community's catalogs (CasaOS, Runtipi, Umbrel, Dokploy, Coolify, Portainer)
 * converted into templates. Admins add, refresh and remove them; everyone sees the list. `open` is
 * the store whose details show. */
export function StoresPage({ open, onOpen }: { open?: string; onOpen: (name: string | undefined) => void }) {
  const isAdmin = useCan("admin");
  return (
    <>
      <PageHeader
        title="Stores"
        description={
          <>
            Other platforms' app catalogs (CasaOS, Runtipi, Umbrel, Dokploy, Coolify, Portainer), converted into templates for the{" "}
            <Link to="/catalog" className="text-primary hover:underline">
              catalog
            </Link>
            . Their apps pass the same checks as any app, but AppOS has not reviewed them.
          </>
        }
      />
      {isAdmin && <AddStore onAdded={(added) => onOpen(added.name)} />}
      <StoresList open={open} onToggle={(name) => onOpen(open === name ? undefined : name)} />
    </>
  );
}
