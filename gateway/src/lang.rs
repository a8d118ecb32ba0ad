//! The portal's four languages: Arabic (the default, right-to-left), Amazigh in Tifinagh
//! (Morocco's second official language), French and English, and how a request's
//! `Accept-Language` names one, and the cookie that remembers a citizen's choice. One
//! definition for the portal's pages, the SSO's way into a service origin and the router's
//! API. Nothing here allocates but the cookie's value.

/// One of the portal's languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    Ar,
    Zgh,
    Fr,
    En,
}

impl Lang {
    /// Every language, in the switcher's order.
    pub const ALL: [Lang; 4] = [Lang::Ar, Lang::Zgh, Lang::Fr, Lang::En];

    /// The language's place in [`Lang::ALL`] (texts kept in that order are indexed by it).
    pub fn index(self) -> usize {
        match self {
            Lang::Ar => 0,
            Lang::Zgh => 1,
            Lang::Fr => 2,
            Lang::En => 3,
        }
    }

    /// Every language, this one first and the others in [`Lang::ALL`]'s order: the order
    /// of the sections of a page written in every language (error pages, the logout page).
    pub fn reading_order(self) -> [Lang; 4] {
        let mut order = Lang::ALL;
        order[..=self.index()].rotate_right(1);
        order
    }

    /// The BCP 47 tag written into `lang` attributes.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ar => "ar",
            Lang::Zgh => "zgh",
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }

    /// The `Accept-Language` a legacy site is asked with for an answer that may be shared
    /// (`cache::ask_as_nobody`): one of four values, whatever the citizen's browser sent.
    /// Amazigh falls back to Arabic, which a legacy site more likely has.
    pub fn accept_language(self) -> http::HeaderValue {
        http::HeaderValue::from_static(match self {
            Lang::Ar => "ar",
            Lang::Zgh => "zgh, ar;q=0.8",
            Lang::Fr => "fr",
            Lang::En => "en",
        })
    }

    /// The writing direction, for `dir` attributes.
    pub fn dir(self) -> &'static str {
        match self {
            Lang::Ar => "rtl",
            _ => "ltr",
        }
    }

    /// The language's own name, for the switcher.
    pub fn endonym(self) -> &'static str {
        match self {
            Lang::Ar => "العربية",
            Lang::Zgh => "ⵜⴰⵎⴰⵣⵉⵖⵜ",
            Lang::Fr => "Français",
            Lang::En => "English",
        }
    }

    /// The language a cookie value or a tag's primary subtag names, if one of ours.
    pub fn from_code(code: &str) -> Option<Lang> {
        let primary = code.split(['-', '_']).next().unwrap_or("");
        let is = |tags: &[&str]| tags.iter().any(|t| primary.eq_ignore_ascii_case(t));
        if is(&["ar", "ary"]) {
            Some(Lang::Ar)
        } else if is(&["zgh", "tzm", "shi", "rif", "ber"]) {
            // Standard Moroccan Amazigh, and the tags browsers send for its varieties
            // (Tamazight, Tachelhit, Tarifit, the Berber collective tag).
            Some(Lang::Zgh)
        } else if is(&["fr"]) {
            Some(Lang::Fr)
        } else if is(&["en"]) {
            Some(Lang::En)
        } else {
            None
        }
    }
}

/// The cookie that remembers the language a citizen chose (the portal's switcher, a service
/// origin's, and the way into a service origin from the portal).
pub const COOKIE: &str = "egov_lang";

/// The `Set-Cookie` value that remembers `lang` for a year. Not `HttpOnly`-sensitive (it
/// is only a preference) but still `HttpOnly` and `SameSite=Lax`: no script needs it.
pub fn set_cookie(lang: Lang, secure: bool) -> http::HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    http::HeaderValue::from_str(&format!(
        "{COOKIE}={}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax{secure}",
        lang.code()
    ))
    .unwrap_or_else(|_| http::HeaderValue::from_static("egov_lang=ar; Path=/"))
}

/// The highest-weighted language of ours in an `Accept-Language` value (RFC 9110 §12.5.4);
/// among equal weights, the first listed. `q=0` means "not this one".
pub fn from_accept_language(value: &str) -> Option<Lang> {
    let mut best: Option<(Lang, u16)> = None;
    for item in value.split(',').take(32) {
        let mut parts = item.split(';');
        let Some(lang) = Lang::from_code(parts.next().unwrap_or("").trim()) else {
            continue;
        };
        let q = parts
            .find_map(|p| {
                let p = p.trim();
                // Parameter names are case-insensitive (RFC 9110 §5.6.6): `Q=0.5` too.
                p.strip_prefix("q=").or_else(|| p.strip_prefix("Q="))
            })
            .map(quality)
            .unwrap_or(1000);
        if q > 0 && best.is_none_or(|(_, b)| q > b) {
            best = Some((lang, q));
        }
    }
    best.map(|(lang, _)| lang)
}

/// A `q` value in thousandths; anything unreadable counts as 0.
fn quality(q: &str) -> u16 {
    q.trim()
        .parse::<f32>()
        .ok()
        .filter(|q| (0.0..=1.0).contains(q))
        .map_or(0, |q| (q * 1000.0).round() as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_in_every_language_puts_the_readers_first_and_keeps_the_rest_in_order() {
        use Lang::*;
        assert_eq!(Ar.reading_order(), [Ar, Zgh, Fr, En]);
        assert_eq!(Zgh.reading_order(), [Zgh, Ar, Fr, En]);
        assert_eq!(Fr.reading_order(), [Fr, Ar, Zgh, En]);
        assert_eq!(En.reading_order(), [En, Ar, Zgh, Fr]);
        for lang in Lang::ALL {
            assert_eq!(Lang::ALL[lang.index()], lang);
        }
    }

    #[test]
    fn accept_language_weights_are_honoured() {
        assert_eq!(
            from_accept_language("de;q=0.9, en;q=0.5, fr;q=0.8"),
            Some(Lang::Fr)
        );
        assert_eq!(from_accept_language("fr;q=0, en"), Some(Lang::En));
        assert_eq!(from_accept_language("tzm-MA, ar"), Some(Lang::Zgh));
        assert_eq!(from_accept_language("fr;q=abc"), None);
    }

    /// Found when tried: `en;Q=0.1, fr;q=0.5` gave English.
    #[test]
    fn the_q_parameter_is_read_in_either_case() {
        assert_eq!(from_accept_language("en;Q=0.1, fr;q=0.5"), Some(Lang::Fr));
    }

    #[test]
    fn directions_follow_the_script() {
        assert_eq!(Lang::Ar.dir(), "rtl");
        assert_eq!(Lang::Zgh.dir(), "ltr");
        assert_eq!(Lang::Zgh.code(), "zgh");
    }
}
