/**
 * The live event stream (`WS /api/v1/events/ws`, token in the subprotocol), one connection for the
 * whole console. It resumes after a drop from the last seq it saw, so nothing is missed; every
 * event refreshes the queries it concerns, and components can listen for their own.
 */
import { useQueryClient, type QueryClient } from "@tanstack/react-query";
import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from "react";
import { wsProtocols, wsUrl } from "@/api/client";
import { expireSession, getToken, isRenewingSession } from "@/api/session";

export interface AppOSEvent {
  seq: number;
  type: string;
  subject: string;
  actor?: string;
  payload: Record<string, unknown>;
  created_at?: string;
}

export type EventsStatus = "connecting" | "live" | "offline";
type Handler = (event: AppOSEvent) => void;

interface EventsContextValue {
  status: EventsStatus;
  subscribe: (handler: Handler) => () => void;
}

const EventsContext = createContext<EventsContextValue>({ status: "offline", subscribe: () => () => {} });

/** Which cached queries an event makes stale. */
export function invalidateFor(queryClient: QueryClient, event: AppOSEvent) {
  const { type, subject, payload } = event;
  if (type === "deployment_log") return; // many per deployment; the log views listen themselves
  if (type.startsWith("app_") || type.startsWith("version_")) {
    queryClient.invalidateQueries({ queryKey: ["apps"] });
    queryClient.invalidateQueries({ queryKey: ["app", subject] });
    queryClient.invalidateQueries({ queryKey: ["versions", subject] });
  }
  if (type.startsWith("deployment_")) {
    const app = typeof payload.app === "string" ? payload.app : "";
    queryClient.invalidateQueries({ queryKey: ["deployments"] });
    queryClient.invalidateQueries({ queryKey: ["deployment", subject] });
    if (app) queryClient.invalidateQueries({ queryKey: ["app", app] });
    if (app) queryClient.invalidateQueries({ queryKey: ["apps"] }); // an app's status follows its deployments
  }
  if (type.startsWith("domain_") || type.startsWith("certificate_")) queryClient.invalidateQueries({ queryKey: ["domains"] });
  if (type.startsWith("user_")) queryClient.invalidateQueries({ queryKey: ["users"] });
  if (type.startsWith("token_")) queryClient.invalidateQueries({ queryKey: ["tokens"] });
  if (type.startsWith("notification_")) queryClient.invalidateQueries({ queryKey: ["notification-targets"] });
}

export function EventsProvider({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient();
  const [status, setStatus] = useState<EventsStatus>("connecting");
  const handlers = useRef(new Set<Handler>());
  const value = useRef<EventsContextValue>({
    status: "connecting",
    subscribe: (handler) => {
      handlers.current.add(handler);
      return () => handlers.current.delete(handler);
    },
  });

  useEffect(() => {
    let socket: WebSocket | null = null;
    let lastSeq: number | null = null;
    let retry = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;

    const connect = () => {
      setStatus("connecting");
      const query = lastSeq === null ? "" : `?after=${lastSeq}`;
      const openedWith = getToken();
      socket = new WebSocket(wsUrl(`/api/v1/events/ws${query}`), wsProtocols());
      socket.onmessage = (message) => {
        let data: Record<string, unknown>;
        try {
          data = JSON.parse(String(message.data));
        } catch {
          return;
        }
        if (data.type === "hello") {
          retry = 0;
          setStatus("live");
          if (lastSeq === null && typeof data.after === "number") lastSeq = data.after;
          else if (lastSeq !== null) queryClient.invalidateQueries(); // catch up after a drop
          return;
        }
        if (data.type === "keepalive" || typeof data.seq !== "number") return;
        const event = data as unknown as AppOSEvent;
        lastSeq = event.seq;
        invalidateFor(queryClient, event);
        for (const handler of handlers.current) handler(event);
      };
      socket.onclose = (close) => {
        socket = null;
        if (stopped) return;
        if (close.code === 4401) {
          // the server ended the session this socket was opened with; when the console already holds
          // a newer one (a password change signs in again), reconnect with it instead
          if (!isRenewingSession() && (getToken() === openedWith || getToken() === null)) {
            expireSession();
            return;
          }
          retry = 0; // a newer session is (or is about to be) there: connect with it
          timer = setTimeout(connect, isRenewingSession() ? 250 : 0);
          return;
        }
        setStatus("offline");
        retry = Math.min(retry + 1, 6);
        timer = setTimeout(connect, Math.min(500 * 2 ** retry, 15000));
      };
    };
    connect();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      socket?.close(1000);
    };
  }, [queryClient]);

  return <EventsContext.Provider value={{ status, subscribe: value.current.subscribe }}>{children}</EventsContext.Provider>;
}

export function useEventsStatus(): EventsStatus {
  return useContext(EventsContext).status;
}

/** Calls `handler` for every live event while the component is mounted. */
export function useEvents(handler: Handler) {
  const { subscribe } = useContext(EventsContext);
  const ref = useRef(handler);
  ref.current = handler;
  useEffect(() => subscribe((event) => ref.current(event)), [subscribe]);
}
