// Light, dark, or whatever the system prefers (the default): kept in this browser.
const key = 'jobservice.theme';

export function applyTheme(theme = localStorage.getItem(key) ?? 'system') {
  document.documentElement.dataset.theme = theme;
  return theme;
}

export function bindThemePicker(select) {
  select.value = applyTheme();
  select.addEventListener('change', () => { localStorage.setItem(key, select.value); applyTheme(select.value); });
}
