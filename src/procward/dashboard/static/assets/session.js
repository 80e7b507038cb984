// The token: taken out of the URL at once (the fragment never reaches the server),
// kept in sessionStorage for this tab, sent as a header with every data call.

const KEY = "procward.token";

export function takeToken() {
  const hash = new URLSearchParams(window.location.hash.slice(1));
  const token = hash.get("token");
  if (token) {
    sessionStorage.setItem(KEY, token);
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  return sessionStorage.getItem(KEY);
}

export function forgetToken() {
  sessionStorage.removeItem(KEY);
}

export function authorization(token) {
  return { Authorization: `Bearer ${token}` };
}
