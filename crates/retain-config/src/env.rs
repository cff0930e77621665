//! What only the environment provides: the values of `${ENV_VAR}` references in
//! pipeline files, and the secrets that a pipeline file's `[storage.options]` must
//! never hold.

/// Replace every `${NAME}` with the environment variable `NAME`; an unset variable is an
/// error naming it. `$$` is a literal `$`.
pub fn expand_env(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('{') {
            let end = tail
                .find('}')
                .ok_or_else(|| format!("unclosed `${{` in `{text}`"))?;
            let name = &tail[..end];
            let value = std::env::var(name)
                .map_err(|_| format!("environment variable `{name}` is not set"))?;
            out.push_str(&value);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Keys of `[storage.options]` that hold secrets: refused in a pipeline file.
const SECRET_KEYS: &[&str] = &[
    "secret",
    "token",
    "password",
    "access_key",
    "account_key",
    "service_account_key",
    "sas",
    "credential",
];

/// Whether the `[storage.options]` key `key` names a secret (an endpoint never does).
pub(crate) fn holds_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    SECRET_KEYS.iter().any(|s| k.contains(s)) && !k.contains("endpoint")
}
