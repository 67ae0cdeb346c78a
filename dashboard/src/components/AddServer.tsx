import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, unwrap } from "@/api/client";
import { errorMessage } from "@/api/errors";
import { AddFormCard, useAdding } from "@/components/AddFormCard";
import { Input, Textarea } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import {
  engineWords,
  explainServerError,
  identityWords,
  isTlsAddress,
  validateDockerSocket,
  validatePem,
  validateServerAddress,
  validateServerName,
  type PemKind,
  type Server,
} from "@/lib/servers";

type Field = "name" | "address" | "socket" | PemKind;
type Pems = Record<PemKind, string>;
const NO_PEMS: Pems = { ca: "", cert: "", key: "" };

const PEM_FIELDS: {
  kind: PemKind;
  label: string;
  placeholder: string;
  help: string;
}[] = [
  {
    kind: "ca",
    label: "CA certificate",
    placeholder: "-----BEGIN CERTIFICATE-----",
    help: "The CA that signed the engine's certificate (its ca.pem).",
  },
  {
    kind: "cert",
    label: "Client certificate",
    placeholder: "-----BEGIN CERTIFICATE-----",
    help: "AppOS's certificate, signed by the CA the engine trusts (--tlscacert).",
  },
  {
    kind: "key",
    label: "Client key",
    placeholder: "-----BEGIN PRIVATE KEY-----",
    help: "Its private key, without a passphrase. Kept on this machine only, never shown again.",
  },
];

function addedWords(server: Server): string {
  return `Added ${server.name}: ${engineWords(server)}, ${identityWords(server)} ${server.host_key_fingerprint} pinned.`;
}

/** The admin's "Add server" form. The server checks SSH and pins the host key — or, for a tcp://
 * address, the TLS handshake with the client certificate and pins the engine's certificate — and
 * asks Docker before it saves anything, which can take up to a minute; a refusal keeps what was
 * typed and says what failed, in the console's words when the message is one it knows. */
export function AddServer({ onAdded }: { onAdded?: (server: Server) => void }) {
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [address, setAddress] = useState("");
  const [socket, setSocket] = useState("");
  const [pems, setPems] = useState<Pems>(NO_PEMS);
  const tls = isTlsAddress(address);
  const [invalid, setInvalid] = useState<Partial<Record<Field, string>>>({});
  const { busy, error, added, run } = useAdding(
    () =>
      unwrap(
        api.POST("/api/v1/servers", {
          body: {
            name,
            address: address.trim(),
            ...(tls ? { ca_pem: pems.ca, cert_pem: pems.cert, key_pem: pems.key } : socket.trim() ? { docker_socket: socket.trim() } : {}),
          },
        }),
      ),
    (server) => {
      setName("");
      setAddress("");
      setSocket("");
      setPems(NO_PEMS);
      queryClient.invalidateQueries({ queryKey: ["servers"] });
      onAdded?.(server);
    },
  );

  const submit = () => {
    const problems: Partial<Record<Field, string>> = {
      name: validateServerName(name) ?? undefined,
      address: validateServerAddress(address) ?? undefined,
      ...(tls
        ? {
            ca: validatePem("ca", pems.ca) ?? undefined,
            cert: validatePem("cert", pems.cert) ?? undefined,
            key: validatePem("key", pems.key) ?? undefined,
          }
        : { socket: validateDockerSocket(socket) ?? undefined }),
    };
    setInvalid(problems);
    if (!Object.values(problems).some(Boolean)) void run();
  };

  const refusal = error ? explainServerError(errorMessage(error)) : null;
  const help = (field: Field, text: string) => (
    <p id={`server-${field}-help`} className={invalid[field] ? "text-xs text-destructive" : "text-xs text-muted-foreground"}>
      {invalid[field] ?? text}
    </p>
  );

  return (
    <AddFormCard
      title="Add a server"
      description="A machine with Docker that AppOS reaches over SSH (put AppOS's key in the user's authorized_keys first) or over Docker's TLS port with a client certificate; nothing of AppOS is installed there."
      onSubmit={submit}
      busy={busy}
      error={error}
      errorTitle="The server was not added; nothing was saved."
      errorSummary={refusal ? `${refusal.summary} ${refusal.next}` : undefined}
      submitLabel="Add server"
      canSubmit={!!address.trim()}
      busyNote={
        tls
          ? "Checking TLS, the engine's certificate and Docker on the server; this can take up to a minute…"
          : "Checking SSH, the host key and Docker on the server; this can take up to a minute…"
      }
      addedNote={added ? addedWords(added) : null}
    >
      <div className="grid gap-4 md:grid-cols-[1fr_2fr_1.5fr]">
        <div className="grid content-start gap-1.5">
          <Label htmlFor="server-name">Name</Label>
          <Input
            id="server-name"
            placeholder="edge"
            value={name}
            aria-invalid={invalid.name ? true : undefined}
            aria-describedby="server-name-help"
            onChange={(e) => setName(e.target.value.trim().toLowerCase())}
            required
            disabled={busy}
            autoComplete="off"
          />
          {help("name", "Lowercase letters, digits and '-'.")}
        </div>
        <div className="grid content-start gap-1.5">
          <Label htmlFor="server-address">Address</Label>
          <Input
            id="server-address"
            placeholder="ssh://deploy@203.0.113.7:22"
            value={address}
            aria-invalid={invalid.address ? true : undefined}
            aria-describedby="server-address-help"
            onChange={(e) => setAddress(e.target.value)}
            required
            disabled={busy}
            autoComplete="off"
            spellCheck={false}
          />
          {help(
            "address",
            "ssh://user@host:port (port 22 when left out; the user must be allowed to use Docker there), or tcp://host:2376 for Docker over TLS.",
          )}
        </div>
        <div className={tls ? "hidden" : "grid content-start gap-1.5"}>
          <Label htmlFor="server-socket">Docker socket (optional)</Label>
          <Input
            id="server-socket"
            placeholder="/var/run/docker.sock"
            value={socket}
            aria-invalid={invalid.socket ? true : undefined}
            aria-describedby="server-socket-help"
            onChange={(e) => setSocket(e.target.value)}
            disabled={busy}
            autoComplete="off"
            spellCheck={false}
          />
          {help("socket", "Its path on the server, when not the default.")}
        </div>
      </div>
      {tls && (
        <div className="grid gap-4 md:grid-cols-3" data-testid="server-tls-fields">
          {PEM_FIELDS.map(({ kind, label, placeholder, help: words }) => (
            <div key={kind} className="grid content-start gap-1.5">
              <Label htmlFor={`server-${kind}`}>{label}</Label>
              <Textarea
                id={`server-${kind}`}
                placeholder={placeholder}
                value={pems[kind]}
                aria-invalid={invalid[kind] ? true : undefined}
                aria-describedby={`server-${kind}-help`}
                onChange={(e) => setPems((before) => ({ ...before, [kind]: e.target.value }))}
                disabled={busy}
                autoComplete="off"
                spellCheck={false}
                rows={4}
                className="font-mono text-xs"
              />
              {help(kind, words)}
            </div>
          ))}
        </div>
      )}
    </AddFormCard>
  );
}
