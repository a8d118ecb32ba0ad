//! `srcset` attributes: a comma-separated list of image candidates, each a URL and an
//! optional descriptor (`logo.gif 1x, http://host/logo-2x.gif 2x`).
//!
//! Each candidate's URL is mapped on its own; descriptors, commas and spacing are kept.
//! Parsing follows the HTML standard's candidate splitting (a URL runs to whitespace, trailing
//! commas end it, descriptors run to the next comma outside parentheses), so URLs that contain
//! commas (`data:` URLs) are not cut.

use crate::css::apply_edits;
use crate::links::{LinkMap, ServiceLinks};

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0c' | b'\r')
}

/// `srcset` with every mapped candidate URL replaced, or `None` if nothing changed.
pub(crate) fn rewrite_srcset(
    value: &str,
    links: &LinkMap,
    current: &ServiceLinks,
) -> Option<String> {
    let b = value.as_bytes();
    let mut edits = Vec::new();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (is_ws(b[i]) || b[i] == b',') {
            i += 1;
        }
        let start = i;
        while i < b.len() && !is_ws(b[i]) {
            i += 1;
        }
        let mut end = i;
        if end > start && b[end - 1] == b',' {
            while end > start && b[end - 1] == b',' {
                end -= 1;
            }
        } else {
            let mut depth = 0usize;
            while i < b.len() {
                match b[i] {
                    b'(' => depth += 1,
                    b')' => depth = depth.saturating_sub(1),
                    b',' if depth == 0 => {
                        i += 1;
                        break;
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        if let Some(new) = value
            .get(start..end)
            .filter(|u| !u.is_empty())
            .and_then(|u| links.rewrite(u, current))
        {
            edits.push((start, end, new));
        }
    }
    apply_edits(value, edits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::links::LinkMapBuilder;

    fn rw(v: &str) -> Option<String> {
        let mut b = LinkMapBuilder::new();
        b.add_legacy("www.cnie.ma", "/cnie", "/s/cnie-renewal")
            .expect("valid");
        rewrite_srcset(
            v,
            &b.build(),
            &ServiceLinks::new("www.cnie.ma", "/s/cnie-renewal"),
        )
    }

    #[test]
    fn every_candidate_url_is_mapped_and_descriptors_kept() {
        assert_eq!(
            rw("http://www.cnie.ma/cnie/img/logo.gif 1x, /cnie/img/logo-2x.gif 2x").as_deref(),
            Some("/s/cnie-renewal/img/logo.gif 1x, /s/cnie-renewal/img/logo-2x.gif 2x")
        );
    }

    #[test]
    fn candidates_without_descriptors_and_with_trailing_commas_are_mapped() {
        assert_eq!(
            rw("/cnie/a.gif,, /cnie/b.gif 480w").as_deref(),
            Some("/s/cnie-renewal/a.gif,, /s/cnie-renewal/b.gif 480w")
        );
    }

    #[test]
    fn data_urls_with_commas_are_not_cut() {
        assert_eq!(
            rw("data:image/gif;base64,R0lG 1x, /cnie/b.gif 2x").as_deref(),
            Some("data:image/gif;base64,R0lG 1x, /s/cnie-renewal/b.gif 2x")
        );
    }

    #[test]
    fn relative_candidates_and_odd_input_are_left_alone() {
        assert_eq!(rw("a.gif 1x, b.gif 2x"), None);
        assert_eq!(rw(""), None);
        assert_eq!(rw(" , ,, "), None);
        assert_eq!(rw("x (1x, ) ,"), None);
    }
}
