// @ts-check
// The JSON API as the pages see it: every reply comes back as data or as the API's own
// `{error: {code, message, field?}}`, never as a thrown exception. Who calls is the server's
// business: locally the session cookie got by redeeming `baton up`'s one-time token (see
// signIn), in Azure App Service Authentication. Every call carries `x-baton-portal`, which the
// local host requires of a change made with the cookie (a cross-site page cannot send it).

/**
 * Redeems a one-time sign-in token from the page's URL (`/?token=…`) for a session cookie, then
 * drops it from the address bar and history.
 * @returns {Promise<string | undefined>} an error message, if the token was refused
 */
export async function signInFromUrl() {
  const params = new URLSearchParams(location.search);
  const token = params.get('token');
  if (token === null) return undefined;
  params.delete('token');
  const rest = params.toString();
  history.replaceState(null, '', `${location.pathname}${rest ? `?${rest}` : ''}${location.hash}`);
  const reply = await api('POST', 'session', { token });
  return reply.ok ? undefined : reply.error.message;
}

/** @returns {Promise<string>} who the API takes this page for (`anonymous` when no one) */
export async function currentUser() {
  const reply = await api('GET', 'me');
  return reply.ok && typeof reply.data?.user === 'string' ? reply.data.user : 'anonymous';
}

/**
 * @typedef {{ code: string, message: string, field?: string }} ApiError
 * @typedef {{ ok: true, status: number, data: any } | { ok: false, status: number, error: ApiError }} ApiReply
 */

/**
 * @param {string} method
 * @param {string} path  below `/api/`
 * @param {unknown} [body]
 * @returns {Promise<ApiReply>}
 */
export async function api(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json', 'x-baton-portal': '1' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(`/api/${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (error) {
    return { ok: false, status: 0, error: { code: 'unavailable', message: String(error) } };
  }
  const text = await response.text();
  let data = null;
  try {
    data = text === '' ? null : JSON.parse(text);
  } catch {
    data = null;
  }
  if (response.ok) return { ok: true, status: response.status, data };
  const error = data && typeof data === 'object' && data.error ? data.error : null;
  return {
    ok: false,
    status: response.status,
    error: {
      code: typeof error?.code === 'string' ? error.code : `http_${response.status}`,
      message: typeof error?.message === 'string' ? error.message : `HTTP ${response.status}`,
      ...(typeof error?.field === 'string' ? { field: error.field } : {}),
    },
  };
}

/** @param {Record<string, string | undefined>} query */
export function queryString(query) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v) params.set(k, v);
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

/**
 * A GET whose reply is text (the Prometheus exposition at `metrics`), or the error as `api`
 * words it.
 * @param {string} path  below `/api/`
 * @returns {Promise<{ ok: true, text: string } | { ok: false, error: ApiError }>}
 */
export async function apiText(path) {
  try {
    const response = await fetch(`/api/${path}`);
    if (response.ok) return { ok: true, text: await response.text() };
    return {
      ok: false,
      error: { code: `http_${response.status}`, message: `HTTP ${response.status}` },
    };
  } catch (error) {
    return { ok: false, error: { code: 'unavailable', message: String(error) } };
  }
}
