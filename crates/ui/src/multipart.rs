//! `multipart/form-data` bodies (the composer's attachments), read by hand: the parts are
//! split on the boundary, text fields become a [`Form`], files keep their bytes as sent.
//! Anything malformed is a clear error, never a panic.

use crate::form::Form;

/// A file part of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FilePart {
    pub(crate) field: String,
    pub(crate) filename: String,
    pub(crate) content_type: String,
    pub(crate) data: Vec<u8>,
}

/// The boundary named in a `multipart/form-data` content type, or `None` for any other type.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let kind = params.next()?.trim();
    if !kind.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.find_map(|p| {
        let (key, value) = p.trim().split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty() && b.len() <= 200)
    })
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    (from..=haystack.len() - needle.len()).find(|&i| haystack[i..].starts_with(needle))
}

/// A header parameter such as `name="files"` (quoted or not).
fn parameter(header: &str, name: &str) -> Option<String> {
    header.split(';').skip(1).find_map(|p| {
        let (key, value) = p.trim().split_once('=')?;
        key.trim().eq_ignore_ascii_case(name).then(|| {
            let value = value.trim();
            value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value)
                .replace("\\\"", "\"")
        })
    })
}

/// Splits a body into its text fields and its files. A file input left empty (no file
/// chosen: an empty name and no bytes) is left out.
pub(crate) fn parse(body: &[u8], boundary: &str) -> Result<(Form, Vec<FilePart>), String> {
    let bad = || {
        "the form was not sent as the browser should send it; reload the page and try again"
            .to_string()
    };
    let delimiter = format!("--{boundary}");
    let mut pos = find(body, delimiter.as_bytes(), 0).ok_or_else(bad)?;
    let next_delimiter = format!("\r\n--{boundary}");
    let mut fields = Vec::new();
    let mut files = Vec::new();
    loop {
        pos += delimiter.len();
        if body[pos..].starts_with(b"--") {
            break;
        }
        if !body[pos..].starts_with(b"\r\n") {
            return Err(bad());
        }
        pos += 2;
        let headers_end = find(body, b"\r\n\r\n", pos).ok_or_else(bad)?;
        let headers = std::str::from_utf8(&body[pos..headers_end]).map_err(|_| bad())?;
        let data_start = headers_end + 4;
        let end = find(body, next_delimiter.as_bytes(), data_start).ok_or_else(bad)?;
        let data = &body[data_start..end];
        let mut disposition = None;
        let mut content_type = "application/octet-stream".to_string();
        for line in headers.split("\r\n") {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            if key.trim().eq_ignore_ascii_case("content-disposition") {
                disposition = Some(value.trim().to_string());
            } else if key.trim().eq_ignore_ascii_case("content-type") {
                content_type = value.trim().to_string();
            }
        }
        let disposition = disposition.ok_or_else(bad)?;
        let name = parameter(&disposition, "name").ok_or_else(bad)?;
        match parameter(&disposition, "filename") {
            Some(filename) => {
                if !(filename.is_empty() && data.is_empty()) {
                    files.push(FilePart {
                        field: name,
                        filename,
                        content_type,
                        data: data.to_vec(),
                    });
                }
            }
            None => {
                let value = String::from_utf8(data.to_vec()).map_err(|_| bad())?;
                fields.push((name, value));
            }
        }
        pos = end + 2;
    }
    Ok((Form::from_pairs(fields), files))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntok\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nline one\r\nline two\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a b.bin\"\r\nContent-Type: application/pdf\r\n\r\n\x00\x01\r\n--X\xff\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"\"\r\nContent-Type: application/octet-stream\r\n\r\n\r\n\
--XyZ--\r\n";

    #[test]
    fn fields_and_files_come_apart_with_their_bytes_as_sent() {
        let parsed = parse(BODY, "XyZ");
        assert!(parsed.is_ok(), "{parsed:?}");
        let (form, files) = parsed.unwrap_or_default();
        assert_eq!(form.raw("csrf"), "tok");
        assert_eq!(form.raw("text"), "line one\r\nline two");
        assert_eq!(files.len(), 1, "the empty file input is left out");
        assert_eq!(files[0].filename, "a b.bin");
        assert_eq!(files[0].content_type, "application/pdf");
        assert_eq!(files[0].data, b"\x00\x01\r\n--X\xff");
    }

    #[test]
    fn a_broken_body_is_an_error_not_a_panic() {
        for cut in 0..BODY.len() {
            let _ = parse(&BODY[..cut], "XyZ");
        }
        assert!(parse(b"no boundary here", "XyZ").is_err());
        assert!(parse(&BODY[..BODY.len() - 20], "XyZ").is_err());
    }

    #[test]
    fn the_boundary_comes_from_the_content_type() {
        assert_eq!(
            boundary("multipart/form-data; boundary=\"abc\"").as_deref(),
            Some("abc")
        );
        assert_eq!(
            boundary("Multipart/Form-Data;boundary=----x").as_deref(),
            Some("----x")
        );
        assert_eq!(boundary("application/x-www-form-urlencoded"), None);
        assert_eq!(boundary("multipart/form-data"), None);
    }
}
