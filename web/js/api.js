// The operations API as the console uses it: POST / with JSON, the session's credentials in
// the Authorization header (Basic, or Bearer with an operation token), exactly as any other
// client. Errors come back as one of three kinds so the page can say what happened:
// AuthError (401: wrong credentials, expired token), NodeUnreachable (no HTTP answer at all),
// OpError (any other non-200, with the node's message).

export class AuthError extends Error {}
export class NodeUnreachable extends Error {}
export class OpError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

const kTimeoutMs = 8000;

// The message a HarperDB-style error body carries.
function messageOf(body, fallback) {
  if (body && typeof body === "object") {
    for (const key of ["error", "message"]) if (typeof body[key] === "string") return body[key];
    if (body.unauthorized_access) return "Permission denied: " + JSON.stringify(body.unauthorized_access);
  }
  return typeof body === "string" && body ? body : fallback;
}

// POSTs `body`; resolves with {status, body} whatever the status, rejects only when the node
// gave no answer.
export async function post(body, authorization) {
  const headers = { "Content-Type": "application/json" };
  if (authorization) headers.Authorization = authorization;
  let response;
  try {
    response = await fetch("/", {
      method: "POST",
      headers,
      body: JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
      signal: AbortSignal.timeout(kTimeoutMs),
    });
  } catch (e) {
    throw new NodeUnreachable(`The node at ${location.host} does not answer (${e.message}).`);
  }
  const text = await response.text();
  let parsed = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body: parsed };
}

export class Session {
  // `authorization`: the Authorization header value; `mode`: "basic" or "token".
  constructor(username, authorization, mode) {
    this.username = username;
    this.authorization = authorization;
    this.mode = mode;
    this.user = null; // user_info, after check()
  }

  static async basic(username, password) {
    const encoded = btoa(String.fromCodePoint(...new TextEncoder().encode(`${username}:${password}`)));
    const session = new Session(username, `Basic ${encoded}`, "basic");
    await session.check();
    return session;
  }

  static async token(username, password) {
    // Credentials in the body, as HarperDB's create_authentication_tokens takes them.
    const { status, body } = await post({ operation: "create_authentication_tokens", username, password });
    if (status === 401) throw new AuthError("Login failed: wrong username or password.");
    if (status !== 200) throw new OpError(status, messageOf(body, `HTTP ${status}`), body);
    const session = new Session(username, `Bearer ${body.operation_token}`, "token");
    await session.check();
    return session;
  }

  get superUser() {
    return Boolean(this.user?.role?.permission?.super_user);
  }

  async check() {
    this.user = await this.op({ operation: "user_info" });
  }

  // Runs one operation; resolves with the reply body of a 200.
  async op(body) {
    const reply = await this.raw(body);
    if (reply.status === 200) return reply.body;
    throw new OpError(reply.status, messageOf(reply.body, `HTTP ${reply.status}`), reply.body);
  }

  // Runs one operation; resolves with {status, body}; a 401 throws AuthError.
  async raw(body) {
    const reply = await post(body, this.authorization);
    if (reply.status === 401) {
      throw new AuthError(
        this.mode === "token"
          ? "Your session token has expired or is no longer valid. Log in again."
          : "Login failed: wrong username or password.",
      );
    }
    return reply;
  }
}
