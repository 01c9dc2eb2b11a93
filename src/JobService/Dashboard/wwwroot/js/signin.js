// The sign-in page: POST the key once; the server answers with an HttpOnly session cookie.
import { applyTheme } from './theme.js';

applyTheme();
const form = document.getElementById('signin');
const error = document.getElementById('error');
if (new URLSearchParams(location.search).has('ended')) {
  error.textContent = 'Your session ended: signed out in another tab, expired, or its key was revoked or expired. Sign in again.';
  error.hidden = false;
}
form.addEventListener('submit', async event => {
  event.preventDefault();
  error.hidden = true;
  const response = await fetch('session', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ key: form.key.value }),
  });
  if (response.ok) { location.href = `./${location.hash}`; return; } // the page that sent here (only a hash: never another site)
  const problem = await response.json().catch(() => ({}));
  error.textContent = problem.detail ?? `Sign-in failed (${response.status}).`;
  error.hidden = false;
});
