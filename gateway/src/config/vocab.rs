//! The closed vocabularies of the configuration: categories, access levels, legacy quirks,
//! what to do with requests on a legacy host, and the routing LLM's response format.
//!
//! They are enums rather than strings so a typo is a load-time error and the hot path
//! compares integers; each keeps the exact spelling operators write in TOML.

use std::fmt;
use std::str::FromStr;

macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling used in configuration files.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the configuration spelling, listing the accepted values on failure.
            pub fn parse(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(format!(
                        "{:?} is not one of: {}",
                        s,
                        [$($text),+].join(", ")
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary! {
    /// Who may use a service.
    Access {
        /// Anyone, no login.
        Public = "public",
        /// A logged-in citizen.
        Citizen = "citizen",
        /// A logged-in user with a professional claim (company, notary, customs broker...).
        Professional = "professional",
    }
}

vocabulary! {
    /// The routing categories of the national catalog.
    Category {
        Identity = "identity",
        CivilStatus = "civil-status",
        Justice = "justice",
        Tax = "tax",
        SocialSecurity = "social-security",
        Health = "health",
        Education = "education",
        Transport = "transport",
        LandProperty = "land-property",
        Business = "business",
        Employment = "employment",
        Agriculture = "agriculture",
        EnergyWater = "energy-water",
        ReligiousAffairs = "religious-affairs",
        Complaints = "complaints",
        Elections = "elections",
        Housing = "housing",
        Customs = "customs",
    }
}

vocabulary! {
    /// What a legacy site is known to do that a portal must correct. Used by `check` to make
    /// sure each quirk is answered by an adapter step.
    Quirk {
        Windows1256 = "windows-1256",
        Iso88591 = "iso-8859-1",
        AbsoluteLinks = "absolute-links",
        LegacyCookies = "legacy-cookies",
        BasicAuth = "basic-auth",
        ApiKey = "api-key",
        Soap = "soap",
        Slow = "slow",
        Flaky = "flaky",
        SelfRedirects = "self-redirects",
        NoCacheHeaders = "no-cache-headers",
        AggressiveCaching = "aggressive-caching",
        LargePages = "large-pages",
        Jsessionid = "jsessionid",
        AbsoluteForms = "absolute-forms",
        Frames = "frames",
        RequiresXff = "requires-xff",
    }
}

vocabulary! {
    /// What the gateway does with a request whose `Host` is a service's old domain.
    LegacyHostMode {
        /// 301 to the same page on the portal: citizens' bookmarks keep working and move over.
        Redirect = "redirect",
        /// Serve it in place, for sites whose old URLs must keep answering (e.g. API clients).
        Proxy = "proxy",
    }
}

vocabulary! {
    /// Whose page a citizen sees when the legacy site answers a page with a server error
    /// (`[legacy] error_pages`), as nginx's `proxy_intercept_errors`.
    SiteErrorPages {
        /// The portal's: in her language, quoting the request id, with a way back. Found when
        /// tried: legacy 5xx pages reached citizens as the site wrote them, an English Apache
        /// "502 Proxy Error" with its version, a Java stack trace naming an internal address.
        Portal = "portal",
        /// The site's own, for a site whose error pages say something citizens need (its
        /// maintenance page, with the date it comes back).
        Site = "site",
    }
}

/// Which `response_format` the routing LLM is asked for (`[assist.llm] response_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ResponseFormatMode {
    /// Structured outputs: `{type: json_schema, json_schema: {name, strict: true, schema}}`
    /// whose `service` is an `enum` of the shortlist's ids and `none`. The best choice where
    /// the server supports it (OpenAI, llama.cpp's server): the model cannot even spell
    /// another id.
    #[default]
    JsonSchema,
    /// The same schema in the JSON-mode dialect `{type: json_object, schema: {...}}`, for
    /// servers that constrain output this way but reject `json_schema`: llama-cpp-python's
    /// server (0.3.x answers `json_schema` with a 500) and some other OpenAI-compatible ones.
    /// Not OpenAI's own API: use it only where the server documents it.
    JsonObjectWithSchema,
    /// JSON mode: `{type: json_object}`.
    JsonObject,
    /// No `response_format` at all, for servers that reject it.
    Off,
}

impl ResponseFormatMode {
    /// Every mode, in the order the documentation lists them.
    pub const ALL: [ResponseFormatMode; 4] = [
        ResponseFormatMode::JsonSchema,
        ResponseFormatMode::JsonObjectWithSchema,
        ResponseFormatMode::JsonObject,
        ResponseFormatMode::Off,
    ];

    /// The configuration spelling (`response_format = "..."` in `[assist.llm]`).
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseFormatMode::JsonSchema => "json_schema",
            ResponseFormatMode::JsonObjectWithSchema => "json_object_schema",
            ResponseFormatMode::JsonObject => "json_object",
            ResponseFormatMode::Off => "off",
        }
    }
}

impl fmt::Display for ResponseFormatMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `response_format` value that names no [`ResponseFormatMode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not one of: json_schema, json_object_schema, json_object, off")]
pub struct UnknownResponseFormat(pub String);

impl FromStr for ResponseFormatMode {
    type Err = UnknownResponseFormat;

    /// Parses the configuration spelling; the one place that spelling is read, so the
    /// configuration check and the client can never disagree on which values exist.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ResponseFormatMode::ALL
            .into_iter()
            .find(|mode| mode.as_str() == s)
            .ok_or_else(|| UnknownResponseFormat(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_response_format_parses_from_its_documented_spelling() {
        for (text, mode) in [
            ("json_schema", ResponseFormatMode::JsonSchema),
            (
                "json_object_schema",
                ResponseFormatMode::JsonObjectWithSchema,
            ),
            ("json_object", ResponseFormatMode::JsonObject),
            ("off", ResponseFormatMode::Off),
        ] {
            assert_eq!(text.parse::<ResponseFormatMode>(), Ok(mode));
            assert_eq!(mode.to_string(), text);
        }
        for unknown in ["", "JSON_SCHEMA", "json", "text"] {
            assert_eq!(
                unknown.parse::<ResponseFormatMode>(),
                Err(UnknownResponseFormat(unknown.to_string()))
            );
        }
    }
}
