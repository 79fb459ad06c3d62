//! HTML from e-mail, made safe to show inside the agent UI.
//!
//! ammonia removes scripts, event handlers, forms, frames and anything that could run or submit.
//! On top of that, images must not load by themselves: a remote image is a read receipt for the
//! sender (tracking pixel). So `<img src="https://…">` becomes `<img data-rapport-remote-src="…">`,
//! which the UI may turn back into `src` when the agent asks to see images, and
//! `<img src="cid:part@x">` becomes `<img data-rapport-cid="part@x">`, which the UI points at the
//! stored attachment with that Content-ID.

use std::collections::HashSet;

/// Attribute that holds a blocked remote image's address (always http or https).
pub const REMOTE_SRC_ATTRIBUTE: &str = "data-rapport-remote-src";
/// Attribute that holds the Content-ID (without `cid:`) of an inline image.
pub const CID_ATTRIBUTE: &str = "data-rapport-cid";

// ammonia's attribute filter can change a value but not rename the attribute, so the filter marks
// the value with a scheme nobody else may produce (every incoming `rapport-…:` value is dropped)
// and the serialised output is rewritten afterwards. Attribute values are always serialised in
// double quotes by html5ever, with `"` escaped, so the marker can only start an attribute value.
const REMOTE_MARK: &str = "rapport-remote-image:";
const CID_MARK: &str = "rapport-cid-image:";

/// Classes that mark quoted history (Gmail, Thunderbird, Outlook, Apple Mail, Yahoo) and
/// signatures in HTML mail.
pub const QUOTE_AND_SIGNATURE_CLASSES: [&str; 9] = [
    "gmail_quote",
    "gmail_attr",
    "gmail_signature",
    "moz-cite-prefix",
    "moz-signature",
    "OutlookMessageHeader",
    "divRplyFwdMsg",
    "yahoo_quoted",
    "AppleOriginalContents",
];

/// The sanitised HTML and what was found on the way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SanitisedHtml {
    pub html: String,
    pub remote_images: usize,
    pub cid_references: Vec<String>,
}

/// Sanitises `html` for display: see the module documentation.
pub(crate) fn sanitise(html: &str) -> SanitisedHtml {
    let mut builder = ammonia::Builder::default();
    builder
        .add_url_schemes(["cid"])
        // Style attributes are kept for readability, but only with properties that cannot carry
        // a URL (no background-image, no list-style-image, no content).
        .add_generic_attributes(["style", "align", "bgcolor", "valign", "width", "height"])
        .filter_style_properties(HashSet::from([
            "color",
            "background-color",
            "font-weight",
            "font-style",
            "font-size",
            "font-family",
            "text-align",
            "text-decoration",
            "margin",
            "margin-left",
            "margin-right",
            "margin-top",
            "margin-bottom",
            "padding",
            "padding-left",
            "padding-right",
            "padding-top",
            "padding-bottom",
            "border",
            "border-left",
            "border-collapse",
            "width",
            "height",
            "vertical-align",
            "white-space",
        ]))
        .add_tag_attributes("img", ["width", "height"])
        // The classes mail clients put on quoted history and signatures, kept so the UI can
        // collapse them (ammonia drops every other class).
        .add_allowed_classes("div", QUOTE_AND_SIGNATURE_CLASSES)
        .add_allowed_classes("blockquote", QUOTE_AND_SIGNATURE_CLASSES)
        .add_allowed_classes("span", QUOTE_AND_SIGNATURE_CLASSES)
        .attribute_filter(|element, attribute, value| {
            let lower = value.trim_start().to_ascii_lowercase();
            if lower.starts_with("rapport-") {
                return None;
            }
            if element == "img" && attribute == "src" {
                let trimmed = value.trim();
                return if lower.starts_with("http://") || lower.starts_with("https://") {
                    Some(format!("{REMOTE_MARK}{trimmed}").into())
                } else if lower.starts_with("cid:") {
                    Some(format!("{CID_MARK}{}", &trimmed[4..]).into())
                } else {
                    None
                };
            }
            Some(value.into())
        });
    let cleaned = builder.clean(html).to_string();

    let mut remote_images = 0;
    let mut cid_references = Vec::new();
    let mut out = String::with_capacity(cleaned.len());
    let remote_needle = format!("src=\"{REMOTE_MARK}");
    let cid_needle = format!("src=\"{CID_MARK}");
    let find_from = |needle: &str, from: usize| cleaned[from..].find(needle).map(|i| i + from);
    // Positions of the next marker of each kind, refreshed only when passed, so the rewrite
    // stays linear however many images there are.
    let mut position = 0;
    let mut next_remote = find_from(&remote_needle, 0);
    let mut next_cid = find_from(&cid_needle, 0);
    loop {
        let (at, is_remote) = match (next_remote, next_cid) {
            (Some(r), Some(c)) if r < c => (r, true),
            (Some(_), Some(c)) => (c, false),
            (Some(r), None) => (r, true),
            (None, Some(c)) => (c, false),
            (None, None) => break,
        };
        out.push_str(&cleaned[position..at]);
        if is_remote {
            remote_images += 1;
            out.push_str(REMOTE_SRC_ATTRIBUTE);
            position = at + remote_needle.len();
            next_remote = find_from(&remote_needle, position);
        } else {
            out.push_str(CID_ATTRIBUTE);
            position = at + cid_needle.len();
            if let Some(end) = cleaned[position..].find('"') {
                cid_references.push(decode_attribute(&cleaned[position..position + end]));
            }
            next_cid = find_from(&cid_needle, position);
        }
        out.push_str("=\"");
    }
    out.push_str(&cleaned[position..]);
    SanitisedHtml {
        html: out,
        remote_images,
        cid_references,
    }
}

/// Points the inline images of sanitised HTML at their stored attachments: each
/// `<img data-rapport-cid="part@x">` for which `url_of("part@x")` gives an address gets
/// `src="address"` beside it; the others are left as they are (no image loads).
///
/// Only `img` tags are touched, and text that merely looks like the attribute cannot match:
/// sanitised text escapes `<`, and attribute values escape `"`.
///
/// ```
/// let html = "<p>Logo: <img data-rapport-cid=\"logo@x\"></p>";
/// let out = mail::html::point_cid_images(html, |cid| (cid == "logo@x").then(|| "/a/7".to_string()));
/// assert_eq!(out, "<p>Logo: <img src=\"/a/7\" data-rapport-cid=\"logo@x\"></p>");
/// ```
pub fn point_cid_images(html: &str, url_of: impl Fn(&str) -> Option<String>) -> String {
    let needle = format!("{CID_ATTRIBUTE}=\"");
    let mut out = String::with_capacity(html.len());
    let mut position = 0;
    while let Some(found) = html[position..].find("<img") {
        let tag_start = position + found;
        let tag_end = html[tag_start..]
            .find('>')
            .map_or(html.len(), |i| tag_start + i);
        out.push_str(&html[position..tag_start]);
        let tag = &html[tag_start..tag_end];
        let rewritten = tag.find(&needle).and_then(|at| {
            let value_start = at + needle.len();
            let value_end = value_start + tag[value_start..].find('"')?;
            let address = url_of(&decode_attribute(&tag[value_start..value_end]))?;
            // Our own addresses only: nothing that needs escaping may come in here.
            if address.contains(['"', '<', '>', '&']) {
                return None;
            }
            Some(format!("{}src=\"{address}\" {}", &tag[..at], &tag[at..]))
        });
        out.push_str(rewritten.as_deref().unwrap_or(tag));
        position = tag_end;
    }
    out.push_str(&html[position..]);
    out
}

/// Undoes html5ever's attribute escaping, enough to compare a Content-ID.
fn decode_attribute(value: &str) -> String {
    value
        .replace("&quot;", "\"")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_handlers_and_forms_are_removed() {
        let cases = [
            ("<script>alert(1)</script><p>hi</p>", "<p>hi</p>"),
            ("<p onclick=\"x()\">hi</p>", "<p>hi</p>"),
            (
                "<a href=\"javascript:alert(1)\">x</a>",
                "<a rel=\"noopener noreferrer\">x</a>",
            ),
            ("<form action=\"/x\"><input name=a></form>ok", "ok"),
            ("<iframe src=\"https://evil.test\"></iframe>ok", "ok"),
        ];
        for (input, expected) in cases {
            assert_eq!(sanitise(input).html, expected, "input: {input}");
        }
    }

    #[test]
    fn remote_images_are_blocked_until_asked_for() {
        let out = sanitise("<img src=\"https://t.test/pixel.gif?a=1&amp;b=2\" alt=\"x\">");
        assert_eq!(out.remote_images, 1);
        assert!(!out.html.contains(" src="), "{}", out.html);
        assert!(
            out.html
                .contains("data-rapport-remote-src=\"https://t.test/pixel.gif?a=1&amp;b=2\""),
            "{}",
            out.html
        );
    }

    #[test]
    fn cid_images_point_at_their_attachment() {
        let out = sanitise("<img src=\"cid:logo@x\"><img src=\"CID:two\">");
        assert_eq!(out.cid_references, vec!["logo@x", "two"]);
        assert!(
            out.html.contains("data-rapport-cid=\"logo@x\""),
            "{}",
            out.html
        );
        assert!(!out.html.contains(" src="), "{}", out.html);
    }

    #[test]
    fn cid_images_are_pointed_at_their_stored_attachment_and_nothing_else_is() {
        let out = sanitise(
            "<p>data-rapport-cid=\"logo@x\" &lt;img</p><img src=\"cid:unknown@x\">\
             <img src=\"cid:a&amp;b\">",
        );
        let url_of = |cid: &str| match cid {
            "logo@x" => Some("/api/v1/attachments/7".to_string()),
            "a&b" => Some("/api/v1/attachments/8".to_string()),
            "evil" => Some("\" onerror=\"x".to_string()),
            _ => None,
        };
        let pointed = point_cid_images(&out.html, url_of);
        assert!(
            pointed.contains("<img data-rapport-cid=\"unknown@x\">"),
            "{pointed}"
        );
        assert!(
            pointed.contains("<img src=\"/api/v1/attachments/8\" data-rapport-cid=\"a&amp;b\">"),
            "{pointed}"
        );
        assert!(
            pointed.starts_with("<p>data-rapport-cid=\"logo@x\" &lt;img</p>"),
            "text stays text: {pointed}"
        );
        let plain = point_cid_images("<img data-rapport-cid=\"logo@x\">", url_of);
        assert_eq!(
            plain,
            "<img src=\"/api/v1/attachments/7\" data-rapport-cid=\"logo@x\">"
        );
        // A '>' inside an earlier attribute ends the scan early: left alone, no image loads.
        let cut = "<img alt=\"a>b\" data-rapport-cid=\"logo@x\">";
        assert_eq!(point_cid_images(cut, url_of), cut);
        let refused = point_cid_images("<img data-rapport-cid=\"evil\">", url_of);
        assert_eq!(refused, "<img data-rapport-cid=\"evil\">");
    }

    #[test]
    fn forged_markers_and_data_attributes_are_dropped() {
        let out = sanitise(
            "<img src=\"rapport-remote-image:javascript:x\"><img data-rapport-remote-src=\"javascript:x\">\
             <a href=\"rapport-cid-image:x\">l</a><img src=\"data:image/png;base64,AAAA\">",
        );
        assert!(!out.html.contains("javascript"), "{}", out.html);
        assert!(!out.html.contains("rapport-"), "{}", out.html);
        assert_eq!(out.remote_images, 0);
    }

    #[test]
    fn text_that_looks_like_a_marker_stays_text() {
        let out = sanitise("<p>src=\"rapport-remote-image:https://x\"</p>");
        // Text is escaped (<, >, &) and never becomes markup, whatever the rewrite does.
        assert!(!out.html.contains("<img"), "{}", out.html);
    }

    #[test]
    fn quote_classes_survive_for_collapsing_and_others_do_not() {
        let out = sanitise(
            "<div class=\"gmail_quote evil\"><blockquote class=\"gmail_quote\">old</blockquote></div>",
        );
        assert!(out.html.contains("class=\"gmail_quote\""), "{}", out.html);
        assert!(!out.html.contains("evil"), "{}", out.html);
    }

    #[test]
    fn styles_keep_only_properties_without_urls() {
        let out =
            sanitise("<p style=\"color: red; background-image: url(https://t.test/x)\">hi</p>");
        assert!(out.html.contains("color"), "{}", out.html);
        assert!(!out.html.contains("url("), "{}", out.html);
    }
}
