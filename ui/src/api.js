// fetch wrapper for the Aristobot API: same-origin cookie auth, JSON in and out, and errors
// that carry the server's `detail` in readable form.

let unauthorizedHandler = null

/** Called (once per burst) when an API call answers 401; main.js sends the user to /login. */
export function onUnauthorized(handler) {
  unauthorizedHandler = handler
}

export class ApiError extends Error {
  constructor(message, status, detail, body = null) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.detail = detail
    /** The whole parsed answer (e.g. a 422's `problems` beside its `detail`). */
    this.body = body
  }
}

/** Turns FastAPI's `detail` (a string, or a validation list of {loc, msg}) into one sentence. */
export function describeDetail(detail) {
  if (detail == null) return ''
  if (typeof detail === 'string') return detail
  if (Array.isArray(detail)) {
    return detail
      .map((item) => {
        if (typeof item === 'string') return item
        const loc = (item.loc || []).filter((part) => part !== 'body' && part !== 'query')
        const msg = String(item.msg || '').replace(/^Value error, /, '')
        return loc.length ? `${loc.join('.')}: ${msg}` : msg
      })
      .join('; ')
  }
  if (typeof detail === 'object' && detail.msg) return String(detail.msg)
  return JSON.stringify(detail)
}

async function readBody(response) {
  if (response.status === 204) return null
  const text = await response.text()
  if (!text) return null
  const type = response.headers.get('content-type') || ''
  if (type.includes('json')) {
    try {
      return JSON.parse(text)
    } catch {
      return text
    }
  }
  return text
}

/**
 * request('GET', '/api/brokers') → parsed JSON (null for 204).
 * Throws ApiError; on 401 also calls the unauthorized handler unless opts.auth === false.
 */
export async function request(method, path, body, opts = {}) {
  const init = {
    method,
    credentials: 'same-origin',
    headers: { Accept: 'application/json' },
  }
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json'
    init.body = JSON.stringify(body)
  }
  let response
  try {
    response = await fetch(path, init)
  } catch (err) {
    throw new ApiError(`cannot reach the server (${err.message || err})`, 0, null)
  }
  const data = await readBody(response)
  if (response.ok) return data

  const detail = data && typeof data === 'object' ? data.detail : undefined
  let message = describeDetail(detail)
  if (!message) {
    const text = typeof data === 'string' ? data.trim().slice(0, 200) : ''
    message = `HTTP ${response.status}${text ? `: ${text}` : ` ${response.statusText}`}`
  }
  if (response.status === 401 && opts.auth !== false && unauthorizedHandler) {
    unauthorizedHandler()
  }
  throw new ApiError(message, response.status, detail, data)
}

/** Builds '/path?x=1' from an object, leaving out empty values. */
export function withQuery(path, params = {}) {
  const query = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') query.set(key, value)
  }
  const text = query.toString()
  return text ? `${path}?${text}` : path
}

export const api = {
  get: (path, params, opts) => request('GET', withQuery(path, params), undefined, opts),
  post: (path, body, opts) => request('POST', path, body, opts),
  patch: (path, body, opts) => request('PATCH', path, body, opts),
  put: (path, body, opts) => request('PUT', path, body, opts),
  del: (path, opts) => request('DELETE', path, undefined, opts),
}

export default api
