//! The closed vocabularies of the configuration: categories, access levels, legacy quirks
//! and what to do with requests on a legacy host.
//!
//! They are enums rather than strings so a typo is a load-time error and the hot path
//! compares integers; each keeps the exact spelling operators write in TOML.

use std::fmt;

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
