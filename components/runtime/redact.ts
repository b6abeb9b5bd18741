/**
 * Text that may carry a secret (a job's output, a config error) with every secret replaced by
 * `[secret]`, in every form a consumer may print it: as given; percent-encoded as
 * `encodeURIComponent`, a WHATWG URL's userinfo or query (`new URL`, a `DATABASE_URL`) and a form
 * body (`URLSearchParams`), each with upper- or lowercase hex; JSON-escaped; its UTF-8 bytes in
 * hex; and in base64 or base64url, whole or at any of the three alignments it can take inside a
 * longer encoded text (`user:password` in an `Authorization: Basic` header).
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  const forms = [...new Set(secrets.flatMap(encodedForms))]
    .filter((form) => form.length > 0)
    // Longest first, so that a secret containing another is replaced whole.
    .sort((a, b) => b.length - a.length);
  if (forms.length === 0) return text;
  // One pass, so that no form is looked for inside the marker another left.
  const anyForm = new RegExp(
    forms.map((form) => form.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&")).join("|"),
    "g",
  );
  return text.replace(anyForm, "[secret]");
}

/** Base64 fragments shorter than this are left alone: they would match unrelated text. */
const MIN_FRAGMENT = 8;

function encodedForms(secret: string): string[] {
  const url = new URL("http://host/");
  url.password = secret;
  const userinfo = url.password;
  url.search = `?${secret}`;
  const percentEncoded = [
    // It throws on a lone surrogate, which a URL's setters replace instead.
    /\p{Cs}/u.test(secret) ? "" : encodeURIComponent(secret),
    userinfo,
    url.search.slice(1),
    new URLSearchParams({ s: secret }).toString().slice(2),
  ];
  const bytes = Buffer.from(secret, "utf8");
  const hex = bytes.toString("hex");
  return [
    secret,
    JSON.stringify(secret).slice(1, -1),
    ...percentEncoded,
    ...percentEncoded.map((form) => form.replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase())),
    hex,
    hex.toUpperCase(),
    ...base64Forms(bytes),
  ];
}

/**
 * `bytes` in base64 and base64url: whole (with and without padding), and the characters that
 * depend on `bytes` alone when they start 0, 1 or 2 bytes into a longer encoded text.
 */
function base64Forms(bytes: Buffer): string[] {
  const whole = bytes.toString("base64");
  const forms = [whole, whole.replace(/=+$/, "")];
  for (let shift = 0; shift < 3; shift++) {
    const encoded = Buffer.concat([Buffer.alloc(shift), bytes]).toString("base64");
    // Character i holds bits [6i, 6i + 6); keep those inside the secret's bits.
    const fragment = encoded.slice(
      Math.ceil((8 * shift) / 6),
      Math.floor((8 * (shift + bytes.length)) / 6),
    );
    if (fragment.length >= MIN_FRAGMENT) forms.push(fragment);
  }
  return forms.flatMap((form) => [form, form.replace(/\+/g, "-").replace(/\//g, "_")]);
}
