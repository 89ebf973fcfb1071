// Forwards the browser's calls to the edge, so the console needs no CORS and the
// edge's address is read at run time from GATEWAY_EDGE_URL. Only the public
// (`/v1`) and admin (`/admin`) APIs pass. Nothing here logs, so no token or
// message content reaches the console's output.
import type { NextRequest } from "next/server";

export const dynamic = "force-dynamic";

const DEFAULT_EDGE_URL = "http://127.0.0.1:8080";
const ALLOWED_ROOTS = new Set(["v1", "admin"]);
const REQUEST_HEADERS = ["authorization", "content-type", "accept", "x-session-id", "x-gateway-dry-run"];
// fetch() already decoded the body, and the length may change with it.
const DROPPED_RESPONSE_HEADERS = new Set(["connection", "keep-alive", "transfer-encoding", "content-encoding", "content-length"]);

type Context = { params: Promise<{ path: string[] }> };

function edgeUrl(): string {
  return (process.env.GATEWAY_EDGE_URL || DEFAULT_EDGE_URL).replace(/\/+$/, "");
}

// OpenAI's error shape, as the edge uses it, for the two failures that happen here instead of at the edge.
function errorResponse(status: number, type: string, code: string, message: string): Response {
  return Response.json({ error: { message, type, param: null, code } }, { status });
}

async function forward(request: NextRequest, context: Context): Promise<Response> {
  const { path } = await context.params;
  if (!ALLOWED_ROOTS.has(path[0] ?? "")) {
    return errorResponse(404, "invalid_request_error", "not_found", `The console forwards only \`/v1\` and \`/admin\` calls, not \`/${path.join("/")}\`.`);
  }

  const target = `${edgeUrl()}/${path.map(encodeURIComponent).join("/")}${request.nextUrl.search}`;
  const headers = new Headers();
  for (const name of REQUEST_HEADERS) {
    const value = request.headers.get(name);
    if (value !== null) headers.set(name, value);
  }
  const hasBody = request.method !== "GET" && request.method !== "HEAD";

  let upstream: Response;
  try {
    upstream = await fetch(target, {
      method: request.method,
      headers,
      body: hasBody ? await request.arrayBuffer() : undefined,
      // A browser that goes away cancels the edge's request, and with it the model call.
      signal: request.signal,
      cache: "no-store",
      redirect: "manual",
    });
  } catch {
    if (request.signal.aborted) return new Response(null, { status: 499 });
    return errorResponse(502, "api_error", "edge_unreachable", `The console could not reach the edge at ${edgeUrl()}; check GATEWAY_EDGE_URL.`);
  }

  const responseHeaders = new Headers();
  upstream.headers.forEach((value, name) => {
    if (!DROPPED_RESPONSE_HEADERS.has(name)) responseHeaders.set(name, value);
  });
  responseHeaders.set("cache-control", "no-store");
  responseHeaders.set("x-accel-buffering", "no");
  return new Response(upstream.body, { status: upstream.status, headers: responseHeaders });
}

export const GET = forward;
export const POST = forward;
export const PUT = forward;
export const PATCH = forward;
export const DELETE = forward;
