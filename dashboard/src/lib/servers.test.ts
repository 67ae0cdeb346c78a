/** Servers in words: statuses, engine and capacity, the Add form's checks, and each message the
 * deployer gives about SSH, host keys and Docker turned into what to do next. */
import { describe, expect, it } from "vitest";
import {
  capacityWords,
  engineWords,
  explainServerError,
  identityWords,
  isTlsAddress,
  serverHost,
  serverProblem,
  serversQuery,
  SERVERS_REFRESH_MS,
  statusWords,
  validateDockerSocket,
  validatePem,
  validateServerAddress,
  validateServerName,
} from "@/lib/servers";

describe("words", () => {
  it("say each status, the engine and the capacity", () => {
    expect(["local", "up", "connecting", "down", "", "odd"].map(statusWords)).toEqual(["this machine", "up", "connecting", "down", "unknown", "odd"]);
    expect(engineWords({ engine_version: "27.3.1", api_version: "1.47" })).toBe("Docker 27.3.1 (API 1.47)");
    expect(engineWords({ engine_version: "", api_version: "" })).toBe("—");
    expect(capacityWords({ cpus: 4, memory_bytes: "8321499136" })).toBe("4 CPUs, 7.8 GiB");
    expect(capacityWords({ cpus: 1, memory_bytes: 0 })).toBe("1 CPU");
    expect(capacityWords({})).toBe("—");
  });

  it("reads the list again every 10 s: no event carries a server's status", () => {
    expect(SERVERS_REFRESH_MS).toBe(10_000);
    expect(serversQuery.refetchInterval).toBe(10_000);
    expect(serversQuery.queryKey).toEqual(["servers"]);
  });
});

describe("the Add form's checks", () => {
  it("takes a DNS label that is not reserved", () => {
    expect(validateServerName("edge-1")).toBeNull();
    expect(validateServerName("")).toBe("Give the server a name.");
    expect(validateServerName("Edge")).toMatch(/Lowercase/);
    expect(validateServerName("-edge")).toMatch(/Lowercase/);
    expect(validateServerName("local")).toMatch(/reserved/);
    expect(validateServerName("key")).toMatch(/reserved/);
  });

  it("takes ssh://user@host[:port] or tcp://host[:port] and nothing else", () => {
    for (const ok of ["ssh://deploy@203.0.113.7", "ssh://deploy@edge.example.com:2222", "ssh://root@[2001:db8::1]:22", " ssh://d_1@h/ "]) {
      expect(validateServerAddress(ok), ok).toBeNull();
    }
    expect(validateServerAddress("")).toMatch(/ssh:\/\/user@host:port/);
    for (const ok of ["tcp://10.0.0.2:2376", "tcp://engine.example.com", " tcp://[2001:db8::2]:2377/ "]) {
      expect(validateServerAddress(ok), ok).toBeNull();
      expect(isTlsAddress(ok)).toBe(true);
    }
    expect(isTlsAddress("ssh://deploy@h")).toBe(false);
    expect(validateServerAddress("tcp://root@10.0.0.2:2376")).toMatch(/tcp:\/\/host:port \(port 2376 when left out\)/);
    expect(validateServerAddress("tcp://10.0.0.2:2376/v1")).toMatch(/nothing after it/);
    expect(validateServerAddress("tcp://10.0.0.2:0")).toMatch(/1 to 65535/);
    expect(validateServerAddress("deploy@host")).toMatch(/starts with ssh:\/\//);
    expect(validateServerAddress("ssh://host:22")).toMatch(/ssh:\/\/user@host:port/);
    expect(validateServerAddress("ssh://Deploy@host")).toMatch(/user AppOS signs in as/);
    expect(validateServerAddress("ssh://deploy@host:0")).toMatch(/1 to 65535/);
    expect(validateServerAddress("ssh://deploy@host:70000")).toMatch(/1 to 65535/);
    expect(validateServerAddress("ssh://deploy@host/path")).toMatch(/nothing after it/);
  });

  it("takes the three PEMs of a TLS server, never quoting the key", () => {
    const cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    const key = "-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----";
    expect(validatePem("ca", cert)).toBeNull();
    expect(validatePem("cert", ` ${cert} `)).toBeNull();
    expect(validatePem("key", key)).toBeNull();
    expect(validatePem("key", "-----BEGIN PRIVATE KEY-----\nMIG\n-----END PRIVATE KEY-----")).toBeNull();
    expect(validatePem("ca", "")).toMatch(/Paste the CA certificate \(PEM\)/);
    expect(validatePem("cert", key)).toMatch(/A certificate in PEM/);
    expect(validatePem("key", cert)).toMatch(/A private key in PEM/);
    expect(validatePem("key", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nx\n-----END ENCRYPTED PRIVATE KEY-----")).toMatch(/without a passphrase/);
    expect(validatePem("key", "nope")).not.toMatch(/nope/);
  });

  it("names what a fingerprint is of", () => {
    expect(identityWords({ transport: "tls" })).toBe("certificate");
    expect(identityWords({ transport: "ssh" })).toBe("host key");
    expect(identityWords({})).toBe("host key");
  });

  it("takes an absolute socket path, or none for the default", () => {
    expect(validateDockerSocket("")).toBeNull();
    expect(validateDockerSocket("/run/user/1000/docker.sock")).toBeNull();
    expect(validateDockerSocket("docker.sock")).toMatch(/absolute path/);
    expect(validateDockerSocket("/var/../etc/passwd")).toMatch(/absolute path/);
  });
});

describe("serverProblem", () => {
  it("is nothing for a server that is up, or only connecting", () => {
    expect(serverProblem("")).toBeNull();
    expect(serverProblem(undefined)).toBeNull();
    expect(serverProblem("connecting")).toBeNull();
  });

  it("says a changed host key is refused, and to re-pin only after a reinstall", () => {
    const p = serverProblem(
      "the host key of 203.0.113.7 is not the one pinned when the server was added; if it changed for a good reason (a reinstall), re-pin it: POST /api/v1/servers/NAME/repin",
    );
    expect(p?.hostKey).toBe(true);
    expect(p?.summary).toBe("The host key of 203.0.113.7 is not the one AppOS pinned when the server was added, so AppOS does not connect.");
    expect(p?.next).toMatch(/reinstalled .* then Re-pin .* If not, someone may be between AppOS and the server: do not re-pin\./);
    expect(`${p?.summary} ${p?.next}`).not.toMatch(/\/api\/v1/);
  });

  it("names the console's own places instead of REST paths", () => {
    const p = explainServerError("deploy@203.0.113.7 refused AppOS's key: add the key from GET /api/v1/servers/key to ~deploy/.ssh/authorized_keys on the server");
    expect(p).toEqual({
      summary: "deploy@203.0.113.7 refused AppOS's SSH key.",
      next: `Add AppOS's public key (under "AppOS's SSH key") to ~deploy/.ssh/authorized_keys on the server.`,
    });
  });

  it.each([
    ["nothing accepts SSH connections at 10.0.0.9:22", "Nothing accepts SSH connections at 10.0.0.9:22.", /SSH server runs there/],
    ["no SSH server answered at 10.0.0.9:2222 (connection refused or timed out)", "Nothing accepts SSH connections at 10.0.0.9:2222.", /firewall/],
    ["10.0.0.9:22 cannot be reached (No route to host)", "10.0.0.9:22 cannot be reached (No route to host).", /server is on/],
    ["10.0.0.9:22 did not answer within 10 s", "10.0.0.9:22 did not answer within 10 s.", /server is on/],
    [
      "no Docker answers at /var/run/docker.sock on the server (is it running, and may deploy use its socket?): ConnectionError",
      "No Docker answers at /var/run/docker.sock on the server.",
      /deploy may use its socket/,
    ],
    ["the server refused to forward its Docker socket: channel 2: open failed", "The server refused to forward its Docker socket: channel 2: open failed.", /AllowStreamLocalForwarding yes/],
    ["the server's Docker speaks API 1.40; AppOS needs 1.41 (Docker Engine 20.10) or newer", "The server's Docker speaks API 1.40; AppOS needs 1.41 (Docker Engine 20.10) or newer.", /Upgrade Docker/],
    ["Docker does not answer: ConnectionError", "Docker on this machine does not answer.", /See System/],
  ])("explains %j", (error, summary, next) => {
    const p = serverProblem(error);
    expect(p?.summary).toBe(summary);
    expect(p?.next).toMatch(next);
  });

  it("turns what the deployer says of Docker over TLS into the next step", () => {
    const changed = explainServerError(
      "the certificate of the engine at 10.0.0.2:2376 is not the one pinned when the server was added (it shows SHA256:ab, SHA256:cd is pinned); if it changed for a good reason (renewed), re-pin it: POST /api/v1/servers/NAME/repin",
    );
    expect(changed?.hostKey).toBe(true);
    expect(changed?.summary).toMatch(/^The certificate of the engine at 10.0.0.2:2376 is not the one AppOS pinned/);
    expect(changed?.next).toMatch(/Re-pin/);
    expect(
      explainServerError("the engine at 10.0.0.2:2376 refused AppOS's client certificate (cert_pem): is it signed by the CA the engine trusts (--tlscacert)? (TLSV1_ALERT_UNKNOWN_CA)"),
    ).toEqual({ summary: "The engine at 10.0.0.2:2376 refused AppOS's client certificate.", next: expect.stringMatching(/signed by the CA the engine trusts/) });
    expect(explainServerError("the engine's certificate at 10.0.0.2:2376 is not signed by the CA given (ca_pem): unable to get local issuer certificate")).toEqual({
      summary: "The engine's certificate at 10.0.0.2:2376 is not signed by the CA given.",
      next: "Give the CA certificate that signed the engine's certificate.",
    });
    expect(explainServerError("the engine's certificate at 10.0.0.2:2376 is not made out to 10.0.0.2 (IP address mismatch): use …")?.next).toMatch(/names/);
    expect(explainServerError("nothing accepts connections at 10.0.0.2:2377 (is dockerd listening there with --tlsverify?)")?.summary).toBe(
      "Nothing accepts connections at 10.0.0.2:2377.",
    );
    expect(explainServerError("what answers at 10.0.0.2:2375 does not speak TLS (WRONG_VERSION_NUMBER); an engine without --tlsverify is refused")?.next).toMatch(
      /does not use Docker without TLS/,
    );
  });

  it("shows a message it does not know as a sentence; the Add form then keeps the server's own", () => {
    expect(serverProblem("ssh to h failed: something new")).toEqual({
      summary: "SSH to h failed: something new.",
      next: "AppOS keeps trying; this page shows the server as AppOS last saw it.",
    });
    expect(explainServerError("a server named 'edge' already exists")).toBeNull();
  });
});

describe("where an app's ports answer", () => {
  const servers = [
    { name: "web2", address: "ssh://root@203.0.113.7:22" },
    { name: "v6", address: "ssh://admin@[2001:db8::7]:2222" },
    { name: "named", address: "ssh://deploy@box.example.org" },
    { name: "tls", address: "tcp://198.51.100.9:2376" },
    { name: "tls6", address: "tcp://[2001:db8::9]:2376" },
  ];
  it("is this page's host for local apps", () => {
    expect(serverHost("local", servers, "appos.lan")).toBe("appos.lan");
    expect(serverHost(undefined, undefined, "appos.lan")).toBe("appos.lan");
  });
  it("is the server's host for remote apps, never a guess", () => {
    expect(serverHost("web2", servers, "appos.lan")).toBe("203.0.113.7");
    expect(serverHost("v6", servers, "appos.lan")).toBe("2001:db8::7");
    expect(serverHost("named", servers, "appos.lan")).toBe("box.example.org");
    expect(serverHost("tls", servers, "appos.lan")).toBe("198.51.100.9");
    expect(serverHost("tls6", servers, "appos.lan")).toBe("2001:db8::9");
    expect(serverHost("gone", servers, "appos.lan")).toBeNull();
    expect(serverHost("web2", undefined, "appos.lan")).toBeNull();
  });
});
