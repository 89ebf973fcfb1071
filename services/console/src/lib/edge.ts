// Calls to the edge through the console's own `/edge` route, with the edge's
// OpenAI-shaped errors turned into `EdgeError`.

export class EdgeError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | null,
    readonly param: string | null,
  ) {
    super(message);
  }
}

export async function edgeFetch(path: string, token: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${token}`);
  if (init.body !== undefined && !headers.has("content-type")) headers.set("content-type", "application/json");
  const response = await fetch(`/edge${path}`, { ...init, headers, cache: "no-store" });
  if (!response.ok) throw await errorOf(response);
  return response;
}

export async function edgeJson<T>(path: string, token: string, init: RequestInit = {}): Promise<T> {
  const response = await edgeFetch(path, token, init);
  return (await response.json()) as T;
}

export function jsonBody(value: unknown): RequestInit {
  return { body: JSON.stringify(value) };
}

async function errorOf(response: Response): Promise<EdgeError> {
  const text = await response.text();
  try {
    const { error } = JSON.parse(text) as { error: { message: string; code: string | null; param: string | null } };
    return new EdgeError(error.message, response.status, error.code, error.param);
  } catch {
    return new EdgeError(`The edge returned ${response.status}: ${text.slice(0, 200)}`, response.status, null, null);
  }
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
