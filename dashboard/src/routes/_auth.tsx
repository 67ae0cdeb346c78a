import { useQuery } from "@tanstack/react-query";
import { createFileRoute, Link, Outlet, redirect, useRouterState } from "@tanstack/react-router";
import { Activity, ArrowUpCircle, Bell, Gauge, Boxes, ClipboardList, Globe, HardDriveDownload, History, KeyRound, LayoutGrid, Library, LogOut, Menu, Server, SquareTerminal, Store, UserCog, Users, X } from "lucide-react";
import { useState, type ComponentType } from "react";
import { api, unwrap } from "@/api/client";
import { clearToken, getToken } from "@/api/session";
import { ErrorAlert, Spinner } from "@/components/common";
import { Button } from "@/components/ui/button";
import { AuthContext, roleAllows, type Role } from "@/lib/auth";
import { EventsProvider, useEventsStatus } from "@/lib/events";
import { FEATURES } from "@/lib/features";
import { cn } from "@/lib/utils";

export const Route = createFileRoute("/_auth")({
  beforeLoad: ({ location }) => {
    if (!getToken()) throw redirect({ to: "/login", search: { redirect: location.href } });
  },
  component: SignedInLayout,
});

interface NavItem {
  to: string;
  label: string;
  icon: ComponentType<{ className?: string }>;
  min: Role;
}

const NAV: NavItem[] = [
  { to: "/", label: "Overview", icon: Gauge, min: "viewer" },
  { to: "/catalog", label: "Catalog", icon: Store, min: "viewer" },
  { to: "/stores", label: "Stores", icon: Library, min: "viewer" },
  { to: "/apps", label: "Apps", icon: LayoutGrid, min: "viewer" },
  { to: "/deployments", label: "Deployments", icon: History, min: "viewer" },
  { to: "/updates", label: "Updates", icon: ArrowUpCircle, min: "viewer" },
  { to: "/domains", label: "Domains", icon: Globe, min: "viewer" },
  { to: "/users", label: "Users", icon: Users, min: "admin" },
  { to: "/tokens", label: "Tokens", icon: KeyRound, min: "viewer" },
  ...(FEATURES.audit ? [{ to: "/audit", label: "Audit", icon: ClipboardList, min: "admin" as Role }] : []),
  ...(FEATURES.backups ? [{ to: "/backups", label: "Backups", icon: HardDriveDownload, min: "admin" as Role }] : []),
  ...(FEATURES.notifications ? [{ to: "/notifications", label: "Notifications", icon: Bell, min: "admin" as Role }] : []),
  { to: "/terminal", label: "Terminal", icon: SquareTerminal, min: "admin" },
  { to: "/servers", label: "Servers", icon: Server, min: "viewer" },
  { to: "/system", label: "System", icon: Activity, min: "viewer" },
];

/** Ends the session on the server (its token is refused from then on), then forgets it here;
 *  a session the server already ended (or cannot reach) is forgotten all the same. */
async function signOut() {
  try {
    await api.POST("/api/v1/auth/logout", { body: {} });
  } finally {
    clearToken("You signed out.");
  }
}

function SignedInLayout() {
  const me = useQuery({ queryKey: ["me"], queryFn: () => unwrap(api.GET("/api/v1/auth/me")), staleTime: 60_000 });
  if (me.isPending) {
    return (
      <div className="flex min-h-screen items-center justify-center">
        <Spinner />
      </div>
    );
  }
  if (me.isError || !me.data) {
    return (
      <div className="mx-auto max-w-md p-10">
        <ErrorAlert error={me.error} />
        <Button className="mt-4" variant="outline" onClick={signOut}>
          Sign out
        </Button>
      </div>
    );
  }
  return (
    <AuthContext.Provider value={{ user: me.data, signOut }}>
      <EventsProvider>
        <Shell role={me.data.role ?? "viewer"} username={me.data.username ?? ""} />
      </EventsProvider>
    </AuthContext.Provider>
  );
}

function LiveDot() {
  const status = useEventsStatus();
  const label = status === "live" ? "Live" : status === "connecting" ? "Connecting" : "Offline";
  return (
    <span className="flex items-center gap-1.5 text-xs" title={`Live events: ${label.toLowerCase()}`}>
      <span className={cn("size-2 rounded-full", status === "live" ? "bg-success" : status === "connecting" ? "bg-warning animate-pulse" : "bg-destructive")} />
      {label}
    </span>
  );
}

function NavLinks({ role, onNavigate }: { role: string; onNavigate?: () => void }) {
  return (
    <nav aria-label="Main" className="flex flex-col gap-1">
      {NAV.filter((item) => roleAllows(role, item.min)).map(({ to, label, icon: Icon }) => (
        <Link
          key={to}
          to={to}
          onClick={onNavigate}
          activeOptions={{ exact: to === "/" }}
          className="flex items-center gap-3 rounded-md px-3 py-2 text-sm text-sidebar-foreground/75 transition-colors hover:bg-white/8 hover:text-sidebar-foreground"
          activeProps={{ className: "bg-white/12 !text-white font-medium" }}
        >
          <Icon className="size-4" />
          {label}
        </Link>
      ))}
    </nav>
  );
}

function Shell({ role, username }: { role: string; username: string }) {
  const [open, setOpen] = useState(false);
  const pathname = useRouterState({ select: (s) => s.location.pathname });
  const account = (
    <div className="flex flex-col gap-3 border-t border-white/10 pt-4 text-sidebar-foreground">
      <div className="flex items-center justify-between px-1">
        <div className="min-w-0">
          <div className="truncate text-sm font-medium">{username}</div>
          <div className="text-xs text-sidebar-foreground/60">{role}</div>
        </div>
        <LiveDot />
      </div>
      <Link
        to="/account"
        onClick={() => setOpen(false)}
        className="flex h-9 items-center gap-2 rounded-md px-4 text-sm font-medium text-sidebar-foreground transition-colors hover:bg-white/10 hover:text-white"
        activeProps={{ className: "bg-white/12 !text-white" }}
      >
        <UserCog className="size-4" />
        Account
      </Link>
      <Button variant="ghost" className="justify-start text-sidebar-foreground hover:bg-white/10 hover:text-white" onClick={signOut}>
        <LogOut />
        Sign out
      </Button>
    </div>
  );
  const brand = (
    <Link to="/" className="flex items-center gap-2 px-1 text-lg font-semibold text-white">
      <span className="flex size-8 items-center justify-center rounded-lg bg-primary">
        <Boxes className="size-4" />
      </span>
      AppOS
    </Link>
  );
  return (
    <div className="min-h-screen lg:grid lg:grid-cols-[15rem_1fr]">
      {/* the column's colour runs the page's whole height; the sidebar itself stays in view */}
      <div className="hidden bg-sidebar lg:block">
        <aside className="sticky top-0 flex h-screen flex-col justify-between gap-4 overflow-y-auto p-4">
          <div className="flex flex-col gap-6">
            {brand}
            <NavLinks role={role} />
          </div>
          {account}
        </aside>
      </div>
      <header className="sticky top-0 z-40 flex items-center justify-between bg-sidebar px-4 py-3 lg:hidden">
        {brand}
        <Button variant="ghost" size="icon" className="text-white hover:bg-white/10 hover:text-white" aria-label={open ? "Close menu" : "Open menu"} aria-expanded={open} onClick={() => setOpen(!open)}>
          {open ? <X /> : <Menu />}
        </Button>
      </header>
      {open && (
        <div className="fixed inset-x-0 top-14 z-30 flex max-h-[calc(100dvh-3.5rem)] flex-col gap-4 overflow-y-auto bg-sidebar p-4 shadow-lg lg:hidden">
          <NavLinks role={role} onNavigate={() => setOpen(false)} />
          {account}
        </div>
      )}
      <main key={pathname.split("/")[1]} className="min-w-0 px-4 py-6 sm:px-8 lg:py-8">
        <div className="mx-auto max-w-6xl">
          <Outlet />
        </div>
      </main>
    </div>
  );
}
