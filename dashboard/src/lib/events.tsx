/**
 * The live event stream (`WS /api/v1/events/ws`, token in the subprotocol), one connection for the
 * whole console. It resumes after a drop from the last seq it saw; every event refreshes the queries
 * it concerns (`liveQueries.ts`: the console polls none of them), and components can listen for
 * their own. Each time the stream starts or comes back, every event-driven query is refetched:
 * what changed before it listened, or while it was away, is then on screen too.
 */
import { useQueryClient } from "@tanstack/react-query";
import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from "react";
import { wsProtocols, wsUrl } from "@/api/client";
import { expireSession, getToken, isRenewingSession } from "@/api/session";
import { invalidateEventDriven, invalidateFor, type AppOSEvent } from "@/lib/liveQueries";

export type { AppOSEvent } from "@/lib/liveQueries";

export type EventsStatus = "connecting" | "live" | "offline";
type Handler = (event: AppOSEvent) => void;

interface EventsContextValue {
  status: EventsStatus;
  /** How many times the stream has started: a change means events may have been missed before. */
  starts: number;
  subscribe: (handler: Handler) => () => void;
}

const EventsContext = createContext<EventsContextValue>({ status: "offline", starts: 0, subscribe: () => () => {} });

export function EventsProvider({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient();
  const [status, setStatus] = useState<EventsStatus>("connecting");
  const [starts, setStarts] = useState(0);
  const handlers = useRef(new Set<Handler>());
  const subscribe = useRef((handler: Handler) => {
    handlers.current.add(handler);
    return () => {
      handlers.current.delete(handler);
    };
  }).current;

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
          // Queries fetched before this hello may predate events the stream will not bring (the first
          // connection starts at the newest event), and after a drop (a restore, a full queue, state
          // down) refetching what is on screen is the sure way back to the server's truth.
          invalidateEventDriven(queryClient);
          setStarts((n) => n + 1);
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

  return <EventsContext.Provider value={{ status, starts, subscribe }}>{children}</EventsContext.Provider>;
}

export function useEventsStatus(): EventsStatus {
  return useContext(EventsContext).status;
}

/** Changes each time the stream starts or comes back; a view that keeps what events brought it
 * (a deployment's log) reads the server again then. */
export function useEventsStarts(): number {
  return useContext(EventsContext).starts;
}

/** Calls `handler` for every live event while the component is mounted. */
export function useEvents(handler: Handler) {
  const { subscribe } = useContext(EventsContext);
  const ref = useRef(handler);
  ref.current = handler;
  useEffect(() => subscribe((event) => ref.current(event)), [subscribe]);
}
