//! Adapters: the small, pure transforms that make a legacy ministry site behave under the
//! portal's single origin.
//!
//! Each module fixes one kind of legacy quirk and knows nothing about the proxy: no pingora
//! types, no I/O, no async. Body transforms are streaming (`feed(chunk) -> output`), header
//! transforms work through the [`headers::HeaderEdit`] trait. That keeps every adapter
//! unit-testable and fuzzable alone, and lets the gateway compile a service's chain once,
//! when its registry snapshot is built.
//!
//! Request side: [`paths`] (where a request goes on the backend), [`credentials`],
//! [`headers`], [`cookies::forwarded_cookies`]. Response side: [`redirects`],
//! [`cookies::scope_set_cookie`], and for bodies [`body::plan`] then a [`body::BodyPipeline`]
//! made of [`charset::Transcoder`] and [`html::HtmlRewriter`] (which uses [`links`], [`css`]),
//! or [`stylesheet::StylesheetRewriter`] for `text/css` responses.
//! [`soap`] is a JSON facade for the services that only speak SOAP.

pub mod body;
pub mod charset;
pub mod cookies;
pub mod credentials;
pub mod css;
pub mod entities;
pub mod headers;
pub mod html;
pub mod links;
pub mod paths;
pub mod redirects;
pub mod script;
pub mod soap;
pub mod stylesheet;
