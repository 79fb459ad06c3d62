//! A reader of the compact JSON that `serde_json` writes for event payloads: an object's
//! top-level fields, once each, with plain values (text without escapes, whole numbers,
//! `null`, `true`, `false`). Folds that read a few fields of millions of payloads (the KPI
//! fold, the SLA clock) try it first and give any payload it does not take whole
//! (whitespace, an escape, a nested value, a field twice, a field missing or of the wrong
//! type) to serde, so it decides nothing that serde would decide otherwise; it only skips
//! serde's work on the payloads the log is made of.

/// A plain top-level value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Raw<'a> {
    Text(&'a str),
    Int(i64),
    Null,
    /// `true` or `false`.
    Other,
}

/// The values of the fields `names` of the object `json` (`None` for a field it lacks), or
/// `None` when the text is not an object this reader takes whole (see the module's note).
///
/// ```
/// use domain::compact_json::{fields, Raw};
/// assert_eq!(
///     fields(r#"{"a":1,"b":"x","c":null}"#, ["b", "d"]),
///     Some([Some(Raw::Text("x")), None])
/// );
/// assert_eq!(fields(r#"{"a": 1}"#, ["a"]), None, "whitespace: for serde");
/// ```
pub fn fields<'a, const N: usize>(json: &'a str, names: [&str; N]) -> Option<[Option<Raw<'a>>; N]> {
    let bytes = json.as_bytes();
    let mut at = 0;
    let mut found: [Option<Raw<'a>>; N] = [None; N];
    if bytes.first() != Some(&b'{') {
        return None;
    }
    at += 1;
    if bytes.get(at) == Some(&b'}') {
        return (at + 1 == bytes.len()).then_some(found);
    }
    loop {
        let (key, after) = text(json, at)?;
        at = after;
        if bytes.get(at) != Some(&b':') {
            return None;
        }
        at += 1;
        let (value, after) = value(json, at)?;
        at = after;
        if let Some(slot) = names.iter().position(|name| *name == key) {
            let cell = found.get_mut(slot)?;
            if cell.is_some() {
                return None; // serde refuses a field given twice.
            }
            *cell = Some(value);
        }
        match bytes.get(at) {
            Some(b',') => at += 1,
            Some(b'}') if at + 1 == bytes.len() => return Some(found),
            _ => return None,
        }
    }
}

/// The text of a string starting at `at` (its opening quote) when it has no escape and no
/// control character, and the position after it.
fn text(json: &str, at: usize) -> Option<(&str, usize)> {
    let bytes = json.as_bytes();
    if bytes.get(at) != Some(&b'"') {
        return None;
    }
    let start = at + 1;
    let mut end = start;
    loop {
        match bytes.get(end)? {
            b'"' => break,
            b'\\' => return None,
            c if *c < 0x20 => return None,
            _ => end += 1,
        }
    }
    Some((json.get(start..end)?, end + 1))
}

/// The plain value starting at `at` and the position after it.
fn value(json: &str, at: usize) -> Option<(Raw<'_>, usize)> {
    let bytes = json.as_bytes();
    match bytes.get(at)? {
        b'"' => text(json, at).map(|(text, after)| (Raw::Text(text), after)),
        b'n' => literal(json, at, "null", Raw::Null),
        b't' => literal(json, at, "true", Raw::Other),
        b'f' => literal(json, at, "false", Raw::Other),
        b'-' | b'0'..=b'9' => {
            let negative = bytes.get(at) == Some(&b'-');
            let digits_from = at + usize::from(negative);
            let mut end = digits_from;
            while bytes.get(end).is_some_and(u8::is_ascii_digit) {
                end += 1;
            }
            let digits = end - digits_from;
            // JSON whole numbers only: no leading zero, no fraction or exponent.
            if digits == 0 || (digits > 1 && bytes.get(digits_from) == Some(&b'0')) {
                return None;
            }
            // serde_json reads `-0` as the float -0.0, which no integer field takes.
            if negative && bytes.get(digits_from) == Some(&b'0') {
                return None;
            }
            if matches!(bytes.get(end), Some(b'.' | b'e' | b'E')) {
                return None;
            }
            let number = json.get(at..end)?.parse().ok()?;
            Some((Raw::Int(number), end))
        }
        _ => None,
    }
}

fn literal<'a>(json: &'a str, at: usize, word: &str, raw: Raw<'a>) -> Option<(Raw<'a>, usize)> {
    json.get(at..at + word.len())
        .filter(|w| *w == word)
        .map(|_| (raw, at + word.len()))
}

/// A required field's text (`None`: missing or not text).
pub fn required_text(raw: Option<Raw<'_>>) -> Option<&str> {
    match raw? {
        Raw::Text(text) => Some(text),
        _ => None,
    }
}

/// A required whole number (`None`: missing or not a whole number).
pub fn required_int(raw: Option<Raw<'_>>) -> Option<i64> {
    match raw? {
        Raw::Int(number) => Some(number),
        _ => None,
    }
}

/// An optional whole number as serde reads `Option<i64>`: missing or `null` is `None`; the
/// outer `None` means "not taken".
pub fn optional_int(raw: Option<Raw<'_>>) -> Option<Option<i64>> {
    match raw {
        None | Some(Raw::Null) => Some(None),
        Some(Raw::Int(number)) => Some(Some(number)),
        Some(_) => None,
    }
}

/// The payload's JSON edited at `at` by `edit` (insert, remove or repeat a piece), as a log
/// written by another version, or by hand, might hold it: for the property tests of every
/// reader of the log's JSON (the KPI fold's, the SLA clock's), which check they read what
/// serde reads.
#[doc(hidden)]
pub fn edited(json: &str, edit: u8, at: usize, piece: &str) -> String {
    let chars: Vec<char> = json.chars().collect();
    let at = at % (chars.len() + 1);
    let (head, tail): (String, String) =
        (chars[..at].iter().collect(), chars[at..].iter().collect());
    match edit % 5 {
        0 => json.to_string(),
        1 => format!("{head}{piece}{tail}"),
        2 => format!("{head}{}", tail.chars().skip(1).collect::<String>()),
        // A field given again: `"name":value,` repeated after the opening brace.
        3 => match json.find(',') {
            Some(comma) if comma > 1 => format!("{{{},{}", &json[1..comma], &json[1..]),
            _ => json.to_string(),
        },
        _ => format!("{head}{tail}{piece}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_only_what_it_reads_whole() {
        assert_eq!(
            fields(r#"{"a":1,"b":"x","c":null}"#, ["b", "a", "d"]),
            Some([Some(Raw::Text("x")), Some(Raw::Int(1)), None])
        );
        for refused in [
            r#"{"a":1,"a":2}"#,
            r#"{"a": 1}"#,
            r#" {"a":1}"#,
            r#"{"a":1} "#,
            r#"{"a":1.0}"#,
            r#"{"a":01}"#,
            r#"{"a":-0}"#,
            r#"{"a":-01}"#,
            r#"{"a":1e3}"#,
            r#"{"a":"x\"y"}"#,
            r#"{"a":[1]}"#,
            r#"{"a":{}}"#,
            r#"{"a":1,}"#,
            r#"{"a":-}"#,
            r#"{"a":nul}"#,
            r#"{"a":99999999999999999999}"#,
            "{\"a\":\"x\ty\"}",
            "",
            "[]",
        ] {
            assert_eq!(fields(refused, ["a"]), None, "{refused}");
        }
        assert_eq!(fields("{}", ["a"]), Some([None]));
        assert_eq!(fields("{", ["a"]), None);
        assert_eq!(
            fields(r#"{"a":-10,"b":true,"c":false}"#, ["a", "b", "c"]),
            Some([Some(Raw::Int(-10)), Some(Raw::Other), Some(Raw::Other)])
        );
    }

    /// Why `-0` is refused: serde_json reads it as a float, which an integer field refuses.
    #[test]
    fn serde_refuses_minus_zero_as_an_integer() {
        assert!(serde_json::from_str::<i64>("-0").is_err());
        assert_eq!(serde_json::from_str::<i64>("-10").ok(), Some(-10));
    }
}
