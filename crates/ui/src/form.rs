//! URL-encoded form bodies and query strings, read by hand so that repeated names (the
//! ticked rows of a bulk action) keep every value.

use axum::body::Bytes;

#[derive(Debug, Default)]
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    pub(crate) fn from_body(body: &Bytes) -> Form {
        Form(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub(crate) fn from_pairs(pairs: Vec<(String, String)>) -> Form {
        Form(pairs)
    }

    pub(crate) fn from_query(query: Option<&str>) -> Form {
        Form::from_body(&Bytes::copy_from_slice(
            query.unwrap_or_default().as_bytes(),
        ))
    }

    /// The first value of `name`, trimmed; `None` when absent or blank.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The first value of `name` as typed (not trimmed), or "".
    pub(crate) fn raw(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    pub(crate) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Builds `path?k=v&…` from the non-empty pairs.
pub(crate) fn link(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        query.append_pair(k, v);
    }
    let query = query.finish();
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    }
}

/// A path on this site to go back to after a form, or `fallback`. Only local paths are
/// accepted, so that a crafted link cannot send someone elsewhere after sign-in.
pub(crate) fn local_path<'a>(candidate: Option<&'a str>, fallback: &'a str) -> &'a str {
    match candidate {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control) =>
        {
            path
        }
        _ => fallback,
    }
}
