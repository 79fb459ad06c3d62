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
    if bytes.first() != Some(&b'{') {
        return None;
    }
    if bytes.get(1) == Some(&b'}') {
        return (bytes.len() == 2).then_some([None; N]);
    }
    fields_from(json, 1, names, None)
}

/// An object whose first field is a tag (as serde writes an internally tagged enum, such as
/// an event's payload with its `"kind"`): see [`tagged`].
#[derive(Debug, Clone, Copy)]
pub struct Tagged<'a> {
    json: &'a str,
    tag: &'a str,
    /// The comma or closing brace after the tag's value.
    rest: usize,
}

/// The object `json` whose first field is `tag` with a plain text value, as serde writes an
/// internally tagged enum: the tag's value, and the object to read the other fields of
/// ([`Tagged::fields`]). `None` when the object does not start so (serde decides then).
///
/// ```
/// use domain::compact_json::{tagged, Raw};
/// let (kind, rest) = tagged(r#"{"kind":"tag_added","tag":"x"}"#, "kind").unwrap();
/// assert_eq!((kind, rest.fields(["tag"])), ("tag_added", Some([Some(Raw::Text("x"))])));
/// assert!(tagged(r#"{"tag":"x","kind":"tag_added"}"#, "kind").is_none());
/// ```
pub fn tagged<'a>(json: &'a str, tag: &'a str) -> Option<(&'a str, Tagged<'a>)> {
    let bytes = json.as_bytes();
    let key_at = 2;
    let after_key = key_at + tag.len();
    if bytes.get(..2) != Some(b"{\"")
        || bytes.get(key_at..after_key) != Some(tag.as_bytes())
        || bytes.get(after_key..after_key + 2) != Some(b"\":")
    {
        return None;
    }
    let (value, rest) = text(json, after_key + 2)?;
    if !matches!(bytes.get(rest), Some(b',' | b'}')) {
        return None;
    }
    Some((
        value,
        Tagged {
            json,
            tag: json.get(key_at..after_key)?,
            rest,
        },
    ))
}

impl<'a> Tagged<'a> {
    /// The values of the fields `names` after the tag, as [`fields`] reads them; `None` also
    /// when the tag is given again (serde refuses that).
    pub fn fields<const N: usize>(&self, names: [&str; N]) -> Option<[Option<Raw<'a>>; N]> {
        let bytes = self.json.as_bytes();
        if bytes.get(self.rest) == Some(&b'}') {
            return (self.rest + 1 == bytes.len()).then_some([None; N]);
        }
        fields_from(self.json, self.rest + 1, names, Some(self.tag))
    }
}

/// The fields of an object from `at` (the opening quote of a key) to its end, as [`fields`]
/// reads them; a key equal to `refused` refuses the object.
fn fields_from<'a, const N: usize>(
    json: &'a str,
    mut at: usize,
    names: [&str; N],
    refused: Option<&str>,
) -> Option<[Option<Raw<'a>>; N]> {
    let bytes = json.as_bytes();
    let mut found: [Option<Raw<'a>>; N] = [None; N];
    // The name after the last one found: serde writes fields in one order, so a caller that
    // names them in that order finds each at the first guess.
    let mut next = 0;
    loop {
        // The key: that name when it is there, quoted whole (no scan for its end), else read.
        let slot = match names.get(next).and_then(|name| quoted_at(bytes, at, name)) {
            Some(after) => {
                at = after;
                Some(next)
            }
            None => {
                let (key, after) = text(json, at)?;
                at = after;
                if refused == Some(key) {
                    return None;
                }
                names.iter().position(|name| *name == key)
            }
        };
        if bytes.get(at) != Some(&b':') {
            return None;
        }
        at += 1;
        let (value, after) = value(json, at)?;
        at = after;
        if let Some(slot) = slot {
            next = slot + 1;
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

/// The position after `"name"` when the string at `at` is exactly `name` (which has no quote,
/// backslash nor control character, as field names do not).
fn quoted_at(bytes: &[u8], at: usize, name: &str) -> Option<usize> {
    let end = at + 1 + name.len();
    (bytes.get(at) == Some(&b'"')
        && bytes.get(at + 1..end) == Some(name.as_bytes())
        && bytes.get(end) == Some(&b'"'))
    .then_some(end + 1)
}

/// The text of a string starting at `at` (its opening quote) when it has no escape and no
/// control character, and the position after it.
fn text(json: &str, at: usize) -> Option<(&str, usize)> {
    let bytes = json.as_bytes();
    if bytes.get(at) != Some(&b'"') {
        return None;
    }
    let start = at + 1;
    let rest = bytes.get(start..)?;
    let length = plain_length(rest)?;
    if rest.get(length) != Some(&b'"') {
        return None;
    }
    let end = start + length;
    Some((json.get(start..end)?, end + 1))
}

/// Where the first quote, backslash or control character of `bytes` is: eight bytes at a
/// time while none of them is one (most texts of the log are a few words long).
fn plain_length(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    // Whether any byte of `word` is below `n` (n <= 0x80): exact as a yes or no.
    let any_below = |word: u64, n: u8| word.wrapping_sub(ONES * u64::from(n)) & !word & HIGHS != 0;
    let any_is = |word: u64, b: u8| any_below(word ^ (ONES * u64::from(b)), 1);
    let mut plain = 0;
    while let Some(chunk) = bytes.get(plain..plain + 8) {
        let word = u64::from_le_bytes(chunk.try_into().ok()?);
        if any_is(word, b'"') || any_is(word, b'\\') || any_below(word, 0x20) {
            break;
        }
        plain += 8;
    }
    let tail = bytes.get(plain..)?;
    let found = tail
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
    Some(plain + found)
}

/// The plain value starting at `at` and the position after it.
fn value(json: &str, at: usize) -> Option<(Raw<'_>, usize)> {
    let bytes = json.as_bytes();
    match bytes.get(at)? {
        b'"' => text(json, at).map(|(text, after)| (Raw::Text(text), after)),
        b'n' => literal(json, at, "null", Raw::Null),
        b't' => literal(json, at, "true", Raw::Other),
        b'f' => literal(json, at, "false", Raw::Other),
        b'-' | b'0'..=b'9' => number(bytes, at),
        _ => None,
    }
}

/// The whole number starting at `at` (a digit or `-`) and the position after it, its digits
/// added up as they are (no `str::parse`); `None` for what serde would not read as an `i64`
/// field: a fraction or an exponent, a leading zero, `-0`, or a value out of range.
fn number(bytes: &[u8], at: usize) -> Option<(Raw<'static>, usize)> {
    let negative = bytes.get(at) == Some(&b'-');
    let digits_from = at + usize::from(negative);
    // JSON whole numbers only: no leading zero (nor `-0`, which serde_json reads as the
    // float -0.0, which no integer field takes), no fraction or exponent.
    let first = *bytes.get(digits_from)?;
    if !first.is_ascii_digit()
        || (first == b'0'
            && (negative || bytes.get(digits_from + 1).is_some_and(u8::is_ascii_digit)))
    {
        return None;
    }
    // Accumulated as a negative number, so that i64::MIN reads too; read once, digit by
    // digit, up to the first byte that is not one.
    let mut value: i64 = 0;
    let mut end = digits_from;
    while let Some(c) = bytes.get(end).filter(|c| c.is_ascii_digit()) {
        value = value.checked_mul(10)?.checked_sub(i64::from(c - b'0'))?;
        end += 1;
    }
    if matches!(bytes.get(end), Some(b'.' | b'e' | b'E')) {
        return None;
    }
    let value = if negative {
        value
    } else {
        value.checked_neg()?
    };
    Some((Raw::Int(value), end))
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
    #![allow(clippy::unwrap_used)]
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
        // Texts of every length, with the character that ends or refuses them at every place.
        for length in 0..40 {
            let plain = "abcdefghij\u{e9}klmnopqrstuvwxyz0123456789"
                .chars()
                .take(length)
                .collect::<String>();
            let json = format!(r#"{{"a":"{plain}"}}"#);
            assert_eq!(
                fields(&json, ["a"]),
                Some([Some(Raw::Text(&plain))]),
                "{json}"
            );
            for bad in ['\\', '\u{1}', '\u{1f}'] {
                for at in 0..=plain.chars().count() {
                    let mut text: Vec<char> = plain.chars().collect();
                    text.insert(at, bad);
                    let text: String = text.into_iter().collect();
                    let json = format!(r#"{{"a":"{text}"}}"#);
                    assert_eq!(fields(&json, ["a"]), None, "{json:?}");
                }
            }
        }
        assert_eq!(
            fields(
                r#"{"a":9223372036854775807,"b":-9223372036854775808,"c":0,"d":""}"#,
                ["a", "b", "c", "d"]
            ),
            Some([
                Some(Raw::Int(i64::MAX)),
                Some(Raw::Int(i64::MIN)),
                Some(Raw::Int(0)),
                Some(Raw::Text("")),
            ])
        );
        for refused in [
            r#"{"a":9223372036854775808}"#,
            r#"{"a":-9223372036854775809}"#,
            r#"{"a":"x"#,
            r#"{"a":"#,
        ] {
            assert_eq!(fields(refused, ["a"]), None, "{refused}");
        }
        assert_eq!(fields("{", ["a"]), None);
        assert_eq!(
            fields(r#"{"a":-10,"b":true,"c":false}"#, ["a", "b", "c"]),
            Some([Some(Raw::Int(-10)), Some(Raw::Other), Some(Raw::Other)])
        );
    }

    /// A tagged object: the tag first, then the other fields as `fields` reads them; the tag
    /// given again, or not first, or not plain text, is left to serde.
    #[test]
    fn reads_the_tag_in_front_and_refuses_it_again() {
        let (tag, rest) = tagged(r#"{"kind":"created","a":1,"b":"x"}"#, "kind").unwrap();
        assert_eq!(tag, "created");
        assert_eq!(
            rest.fields(["b", "a", "c"]),
            Some([Some(Raw::Text("x")), Some(Raw::Int(1)), None])
        );
        let (tag, rest) = tagged(r#"{"kind":"x"}"#, "kind").unwrap();
        assert_eq!((tag, rest.fields(["a"])), ("x", Some([None])));
        let (_, rest) = tagged(r#"{"kind":"x","a":1,"kind":"x"}"#, "kind").unwrap();
        assert_eq!(rest.fields(["a"]), None, "the tag twice");
        let (_, rest) = tagged(r#"{"kind":"x","a":1,"a":2}"#, "kind").unwrap();
        assert_eq!(rest.fields(["a"]), None, "a field twice");
        for json in [
            r#"{"kind":"x"} "#,
            r#"{"kind":"x",}"#,
            r#"{"kind":"x","a":1} "#,
        ] {
            let read = tagged(json, "kind").and_then(|(_, rest)| rest.fields(["a"]));
            assert_eq!(read, None, "{json}");
        }
        for refused in [
            r#"{"a":1,"kind":"x"}"#,
            r#"{ "kind":"x"}"#,
            r#"{"kind": "x"}"#,
            r#"{"kind":1}"#,
            r#"{"kind":null}"#,
            r#"{"kind":"x\"y"}"#,
            r#"{"kin":"x"}"#,
            r#"{"kinds":"x"}"#,
            r#"{"kind":"x""#,
            r#"{"kind":"x"]"#,
            r#"{"kind""#,
            "",
        ] {
            assert!(tagged(refused, "kind").is_none(), "{refused}");
        }
    }

    /// Why `-0` is refused: serde_json reads it as a float, which an integer field refuses.
    #[test]
    fn serde_refuses_minus_zero_as_an_integer() {
        assert!(serde_json::from_str::<i64>("-0").is_err());
        assert_eq!(serde_json::from_str::<i64>("-10").ok(), Some(-10));
    }
}
