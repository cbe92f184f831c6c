// The page's one door to the server: every tab (and the Live tab) calls these.
// Errors come back in OpenAI's shape, {"error": {"message", ...}}; we throw the sentence.

const KEY_STORAGE = "polymodal.apiKey";

/** The API key the page sends, or null when none is set. */
export function apiKey() {
  try {
    const key = localStorage.getItem(KEY_STORAGE);
    return key ? key : null;
  } catch {
    return null;
  }
}

/** Keep (or, with an empty value, forget) the key typed in the header field. */
export function setApiKey(key) {
  try {
    if (key && key.trim()) localStorage.setItem(KEY_STORAGE, key.trim());
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    /* storage refused (private mode): the key lasts only as long as the field */
  }
}

/** A failure the server explained: `.message` is its sentence, `.status` the HTTP status. */
export class ApiError extends Error {
  constructor(message, status = 0, code = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

/** Headers every call carries: the key when one is set. */
export function authHeaders(extra = {}) {
  const headers = { ...extra };
  const key = apiKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  return headers;
}

/** The server's sentence from a failed response (its error shape, else the status line). */
export async function errorFrom(response) {
  let message = `The server answered ${response.status} ${response.statusText}.`.replace(" .", ".");
  let code = null;
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) {
      message = body.error.message;
      code = body.error.code ?? null;
    }
  } catch {
    /* not JSON: keep the status line */
  }
  return new ApiError(message, response.status, code);
}

/** fetch() with the key, turning a network failure or an error status into an ApiError. */
export async function request(path, init = {}) {
  let response;
  try {
    response = await fetch(path, { ...init, headers: authHeaders(init.headers || {}) });
  } catch (error) {
    throw new ApiError(`The server could not be reached (${error.message}).`, 0);
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}

async function parsed(response) {
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

export async function getJSON(path) {
  return parsed(await request(path, { method: "GET" }));
}

export async function postJSON(path, body) {
  const init = {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  };
  return parsed(await request(path, init));
}

export async function postForm(path, formData) {
  return parsed(await request(path, { method: "POST", body: formData }));
}

/** Show an error's sentence in `element`, which becomes (or stays) an alert for screen readers. */
export function showError(element, error) {
  if (!element) return;
  element.setAttribute("role", "alert");
  element.hidden = false;
  element.textContent = error instanceof Error ? error.message : String(error);
}

/** Empty and hide an error element again. */
export function clearError(element) {
  if (!element) return;
  element.textContent = "";
  element.hidden = true;
}
