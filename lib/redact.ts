/**
 * Text that may carry a secret (a job's output, a config error) with every secret replaced by
 * `[secret]`: as given, percent-encoded (as in a `DATABASE_URL`) and JSON-escaped (as in an
 * error that quotes a value).
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  const forms = secrets
    .flatMap((secret) => [secret, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)])
    .filter((form) => form.length > 0)
    // Longest first, so that a secret containing another is replaced whole.
    .sort((a, b) => b.length - a.length);
  return forms.reduce((redacted, form) => redacted.split(form).join("[secret]"), text);
}
