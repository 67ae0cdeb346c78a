import { explainError } from "@/api/errors";
import { describe, expect, it } from "vitest";
import {
  deliverySummary,
  failureText,
  destination,
  emptyTargetForm,
  formFromTarget,
  generateSecret,
  isLoopback,
  parseRecipients,
  targetPayload,
  validateTarget,
  validateUrl,
  type NotificationTarget,
  type TargetForm,
} from "./notificationForm";

const KINDS = ["deployment_failed", "auto_rollback", "certificate_expiring", "certificate_failed", "app_unhealthy"];
const webhook = (over: Partial<TargetForm> = {}): TargetForm => ({ ...emptyTargetForm(KINDS), name: "ops", url: "https://hooks.example.com/x", secret: "s".repeat(16), ...over });
const email = (over: Partial<TargetForm> = {}): TargetForm => ({
  ...emptyTargetForm(KINDS),
  name: "mail",
  kind: "email",
  host: "smtp.example.com",
  from_address: "appos@example.com",
  to: "ops@example.com",
  ...over,
});
const STORED_HOOK: NotificationTarget = { name: "ops", kind: "webhook", enabled: false, events: ["deployment_failed"], webhook: { url: "https://h.example/x", secret_set: true } };
const STORED_MAIL: NotificationTarget = {
  name: "mail",
  kind: "email",
  enabled: true,
  events: KINDS,
  email: { host: "smtp.example.com", port: 465, security: "ssl", username: "bot", password_set: true, from_address: "a@example.com", to: ["x@example.com", "y@example.com"] },
};

describe("webhook targets", () => {
  it("accepts a good one and sends what the API wants", () => {
    const form = webhook({ events: ["deployment_failed", "app_unhealthy"] });
    expect(validateTarget(form)).toEqual({});
    expect(targetPayload(form, { create: true })).toEqual({
      name: "ops",
      enabled: true,
      events: ["app_unhealthy", "deployment_failed"],
      webhook: { url: "https://hooks.example.com/x", secret: "s".repeat(16) },
    });
    expect(targetPayload(form, { create: false })).not.toHaveProperty("name");
  });

  it("checks the name, URL, secret and events like the server", () => {
    const errors = validateTarget(webhook({ name: "Ops_1", url: "ftp://x", secret: "short", events: [] }));
    expect(errors.name).toMatch(/lowercase/);
    expect(errors.url).toMatch(/http:\/\/ or https:\/\//);
    expect(errors.secret).toBe("The secret must be 16–256 characters.");
    expect(errors.events).toBe("Tick at least one event.");
    expect(validateTarget(webhook({ secret: "" })).secret).toMatch(/generate one/);
    expect(validateUrl("https://user:pw@hooks.example.com/")).toMatch(/No user or password/);
    expect(validateUrl("https://hooks example.com/")).toMatch(/without spaces/);
    expect(validateUrl("not a url")).not.toBeNull();
    expect(validateUrl("http://127.0.0.1:9000/hook")).toBeNull();
    expect(validateUrl("http://[::1]:9000/hook")).toBeNull();
  });

  it("keeps a stored secret when the field stays empty, but not across a change of kind", () => {
    const form = formFromTarget(STORED_HOOK, KINDS);
    expect(form).toMatchObject({ name: "ops", kind: "webhook", enabled: false, events: ["deployment_failed"], url: "https://h.example/x", secret: "" });
    expect(validateTarget(form, STORED_HOOK)).toEqual({});
    expect(targetPayload(form, { create: false }).webhook).toEqual({ url: "https://h.example/x", secret: "" });
    // a stored email target turned into a webhook has no secret to keep
    expect(validateTarget(webhook({ name: "mail", secret: "" }), STORED_MAIL).secret).toMatch(/Enter a secret/);
  });

  it("generates secrets the server accepts", () => {
    const a = generateSecret();
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(generateSecret()).not.toBe(a);
    expect(validateTarget(webhook({ secret: a }))).toEqual({});
  });
});

describe("email targets", () => {
  it("accepts a good one; an empty port means the default", () => {
    const form = email({ to: "ops@example.com,\n dev@example.com; boss@example.com" });
    expect(validateTarget(form)).toEqual({});
    expect(targetPayload(form, { create: true }).email).toEqual({
      host: "smtp.example.com",
      port: 0,
      security: "starttls",
      username: "",
      password: "",
      from_address: "appos@example.com",
      to: ["ops@example.com", "dev@example.com", "boss@example.com"],
    });
  });

  it("checks host, port, addresses and the recipient limit", () => {
    const errors = validateTarget(email({ host: "bad host", port: "70000", from_address: "nobody", to: "ops@example.com, not-an-address" }));
    expect(errors.host).toMatch(/not a host name/);
    expect(errors.port).toMatch(/1 to 65535/);
    expect(errors.from_address).toMatch(/sender/);
    expect(errors.to).toBe("Not an email address: not-an-address.");
    expect(validateTarget(email({ to: "" })).to).toMatch(/at least one/);
    expect(validateTarget(email({ to: Array.from({ length: 21 }, (_, i) => `u${i}@example.com`).join(",") })).to).toMatch(/At most 20/);
    expect(validateTarget(email({ host: "" })).host).toMatch(/Enter/);
  });

  it("sends a password only with a username, and only over TLS unless the host is local", () => {
    expect(validateTarget(email({ password: "secret-pass" })).password).toMatch(/needs a username/);
    expect(validateTarget(email({ username: "bot" })).password).toMatch(/Enter the password/);
    expect(validateTarget(email({ username: "bot", password: "pw", security: "none" })).security).toMatch(/only over TLS/);
    expect(validateTarget(email({ username: "bot", password: "pw", security: "none", host: "127.0.0.1" }))).toEqual({});
    expect(validateTarget(email({ username: "bot", password: "pw", security: "ssl" }))).toEqual({});
    expect(isLoopback("localhost") && isLoopback("127.8.0.1") && isLoopback("::1") && !isLoopback("10.0.0.1")).toBe(true);
  });

  it("edits a stored one without retyping its password", () => {
    const form = formFromTarget(STORED_MAIL, KINDS);
    expect(form).toMatchObject({ host: "smtp.example.com", port: "465", security: "ssl", username: "bot", password: "", to: "x@example.com, y@example.com" });
    expect(validateTarget(form, STORED_MAIL)).toEqual({});
    // no username: no login, and a stored password is dropped by the server
    expect(targetPayload({ ...form, username: "", password: "typed" }, { create: false }).email?.password).toBe("");
  });

  it("parses recipients from commas, semicolons and new lines", () => {
    expect(parseRecipients(" a@x.io,b@x.io;\nc@x.io  ")).toEqual(["a@x.io", "b@x.io", "c@x.io"]);
  });
});

describe("deliveries", () => {
  it("summarises the test button's answer", () => {
    expect(deliverySummary({ status: "delivered", http_status: 204 })).toEqual({ ok: true, text: "Delivered (HTTP 204)." });
    expect(deliverySummary({ status: "delivered" })).toEqual({ ok: true, text: "Delivered." });
    expect(deliverySummary({ status: "failed", error: "could not connect: ConnectError" })).toEqual({ ok: false, text: "Failed: could not connect: ConnectError." });
    expect(deliverySummary({ status: "failed", error: "server answered", http_status: 500 }).text).toBe("Failed: server answered; HTTP 500.");
    expect(deliverySummary({ status: "retrying", attempts: 2, error: "timeout" }).text).toBe("Failed, retrying (attempt 2): timeout.");
  });

  it("gives a failure's reason to the shared error display", () => {
    expect(failureText({ status: "failed", error: "could not connect: connection refused" })).toBe("could not connect: connection refused");
    expect(failureText({ status: "failed", error: "server answered", http_status: 500 })).toBe("server answered; HTTP 500");
    expect(failureText({ status: "retrying", attempts: 2, error: "timeout" })).toBe("timeout (retrying, attempt 2)");
    expect(explainError(failureText({ status: "failed", error: "could not connect: connection refused" })).summary).toBe(
      "The webhook cannot be reached: connection refused.",
    );
  });

  it("says where a target sends to", () => {
    expect(destination(STORED_HOOK)).toBe("https://h.example/x");
    expect(destination(STORED_MAIL)).toBe("x@example.com, y@example.com via smtp.example.com:465");
  });
});
