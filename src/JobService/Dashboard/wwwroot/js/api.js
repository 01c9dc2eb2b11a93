// The public HTTP API, as curl would call it; the session cookie authenticates (with auth on) and
// every change carries the session's antiforgery token.

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? problem?.title ?? `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export const session = { token: null, tenant: '' };

/** A query string from an object; arrays repeat the parameter; empty values are left out. */
export function query(params = {}) {
  const q = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    for (const v of [value].flat()) if (v !== undefined && v !== null && v !== '') q.append(name, v);
  }
  const text = q.toString();
  return text ? `?${text}` : '';
}

/** The admin's tenant choice, for lists, counts and streams. */
export const tenantParams = () => (session.tenant ? { tenant_id: session.tenant } : {});

export async function api(path, { method = 'GET', body, params } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && session.token) headers['X-Dashboard-Token'] = session.token;
  const response = await fetch(path + query(params), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  // Signed out in another tab, the session expired, or the key revoked: every page goes to sign in,
  // which comes back to this page (the hash) and says why when a session had been open.
  if (response.status === 401) location.href = `signin.html${session.token ? '?ended' : ''}${location.hash}`;
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}
