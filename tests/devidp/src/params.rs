//! Request parameters, parsed the way OAuth 2.0 wants (RFC 6749 §3.1): query strings and
//! `application/x-www-form-urlencoded` bodies alike, a parameter sent twice is an error, and
//! one sent without a value counts as absent. Every endpoint parses through here, so none of
//! them can disagree about it.

use std::collections::HashMap;

/// The parsed parameters of one request.
#[derive(Debug, Default)]
pub(crate) struct Params(HashMap<String, String>);

/// A parameter that appeared more than once.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("parameter {0} is repeated")]
pub(crate) struct Repeated(pub String);

impl Params {
    /// Parses `input` (a query string without `?`, or a form body).
    pub fn parse(input: &[u8]) -> Result<Params, Repeated> {
        let mut map = HashMap::new();
        for (name, value) in form_urlencoded::parse(input) {
            if map.insert(name.to_string(), value.into_owned()).is_some() {
                return Err(Repeated(name.into_owned()));
            }
        }
        Ok(Params(map))
    }

    /// The value of `name`, if present and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_count_as_absent_and_repeats_are_refused() {
        let p = Params::parse(b"a=1&b=&c=x%20y").expect("parses");
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x y"));
        assert_eq!(
            Params::parse(b"a=1&a=2").expect_err("repeated"),
            Repeated("a".into())
        );
    }
}
