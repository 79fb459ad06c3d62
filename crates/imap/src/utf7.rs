//! Folder names on the wire: IMAP's modified UTF-7 (RFC 3501 section 5.1.3).
//!
//! Printable US-ASCII stands for itself, except `&`, which is written `&-`; every run of other
//! characters is written as its UTF-16 code units in base64 (with `,` for `/`, no padding)
//! between `&` and `-`. The configuration names folders as people read them
//! (`Entwürfe`); the server is told `Entw&APw-rfe`.
//!
//! ```text
//! Entwürfe                  Entw&APw-rfe
//! R&D                       R&-D
//! ~peter/mail/台北/日本語    ~peter/mail/&U,BTFw-/&ZeVnLIqe-
//! ```

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// Whether `c` is written as itself (printable US-ASCII; `&` is written `&-`).
fn is_direct(c: char) -> bool {
    (' '..='~').contains(&c)
}

/// A folder name as the server is told it (total: every string has an encoding).
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut run: Vec<u16> = Vec::new();
    for c in name.chars() {
        if is_direct(c) {
            flush(&mut run, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut units = [0u16; 2];
            run.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Writes a run of UTF-16 code units as `&…-` and empties it.
fn flush(run: &mut Vec<u16>, out: &mut String) {
    if run.is_empty() {
        return;
    }
    let bytes: Vec<u8> = run.iter().flat_map(|u| u.to_be_bytes()).collect();
    out.push('&');
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let sextets = [
            b[0] >> 2,
            ((b[0] & 0x03) << 4) | (b[1] >> 4),
            ((b[1] & 0x0f) << 2) | (b[2] >> 6),
            b[2] & 0x3f,
        ];
        // 1 byte needs 2 characters, 2 need 3, 3 need 4; no padding.
        for &sextet in &sextets[..chunk.len() + 1] {
            out.push(char::from(ALPHABET[usize::from(sextet)]));
        }
    }
    out.push('-');
    run.clear();
}

/// Why a name from the server is not modified UTF-7.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("folder name {name:?} is not modified UTF-7: {reason}")]
pub struct DecodeError {
    pub name: String,
    pub reason: &'static str,
}

/// A folder name as the server wrote it, as people read it. Strict: only what [`encode`]
/// could have written (bar two encoded runs side by side) is accepted.
pub fn decode(wire: &str) -> Result<String, DecodeError> {
    let fail = |reason| DecodeError {
        name: wire.to_string(),
        reason,
    };
    let mut out = String::with_capacity(wire.len());
    let mut rest = wire;
    while let Some(c) = rest.chars().next() {
        if c != '&' {
            if !is_direct(c) {
                return Err(fail("it holds a character that must be encoded"));
            }
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let Some(end) = rest.find('-') else {
            return Err(fail("an encoded run (&…) has no closing -"));
        };
        let encoded = &rest[1..end];
        rest = &rest[end + 1..];
        if encoded.is_empty() {
            out.push('&');
            continue;
        }
        let units = decode_run(encoded).map_err(fail)?;
        let text = String::from_utf16(&units).map_err(|_| fail("it holds a broken UTF-16 pair"))?;
        if text.chars().any(is_direct) {
            return Err(fail("an encoded run holds printable ASCII"));
        }
        out.push_str(&text);
    }
    Ok(out)
}

/// The UTF-16 code units of the base64 between `&` and `-`.
fn decode_run(encoded: &str) -> Result<Vec<u16>, &'static str> {
    let mut bits = 0u32;
    let mut count = 0u32;
    let mut bytes = Vec::with_capacity(encoded.len() * 3 / 4);
    for b in encoded.bytes() {
        let value = ALPHABET
            .iter()
            .position(|&a| a == b)
            .ok_or("an encoded run holds a character outside its base64 alphabet")?;
        bits = (bits << 6) | value as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            bytes.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    if count >= 6 || bits != 0 {
        return Err("an encoded run ends in the middle of a character");
    }
    if bytes.len() % 2 != 0 {
        return Err("an encoded run ends in the middle of a UTF-16 unit");
    }
    Ok(bytes
        .chunks(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_names_are_written_as_rfc_3501_writes_them() {
        for (name, wire) in [
            ("INBOX", "INBOX"),
            ("Entwürfe", "Entw&APw-rfe"),
            ("&", "&-"),
            ("R&D", "R&-D"),
            ("Gesendete Objekte", "Gesendete Objekte"),
            ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
            ("Корзина", "&BBoEPgRABDcEOAQ9BDA-"),
            ("Boîte d'envoi", "Bo&AO4-te d'envoi"),
            ("😀", "&2D3eAA-"),
            ("ä&ö", "&AOQ-&-&APY-"),
            ("", ""),
        ] {
            assert_eq!(encode(name), wire, "encode {name:?}");
            assert_eq!(decode(wire).as_deref(), Ok(name), "decode {wire:?}");
        }
    }

    #[test]
    fn what_encode_could_not_have_written_is_refused() {
        for wire in [
            "Entw&APw",      // no closing -
            "Entw&AP-rfe",   // ends inside a character
            "&AOQA-",        // half a UTF-16 unit
            "&AGE-",         // "a", which stands for itself
            "&2D0-",         // a lone surrogate
            "Entw\u{fc}rfe", // raw 8-bit
            "tab\there",     // a control character
            "&AP*-",         // outside the alphabet
            "&APx-",         // leftover bits not zero
        ] {
            assert!(decode(wire).is_err(), "{wire:?} should be refused");
        }
    }

    proptest! {
        #[test]
        fn any_name_survives_the_round_trip(name in any::<String>()) {
            let wire = encode(&name);
            prop_assert!(wire.chars().all(is_direct), "{wire:?} is printable ASCII");
            prop_assert_eq!(decode(&wire), Ok(name));
        }

        #[test]
        fn printable_ascii_without_ampersand_is_written_as_is(name in "[ -%'-~]*") {
            prop_assert_eq!(encode(&name), name);
        }

        #[test]
        fn a_canonical_wire_name_is_written_back_the_same(name in any::<String>()) {
            let wire = encode(&name);
            let decoded = decode(&wire).unwrap_or_default();
            prop_assert_eq!(encode(&decoded), wire);
        }

        #[test]
        fn decoding_never_panics(wire in any::<String>()) {
            let _ = decode(&wire);
        }
    }
}
