//! Integration tests of the simulated legacy estate: a real server on
//! 127.0.0.1:0 driven by a real HTTP client, one behaviour per test.

mod common;

mod caching_and_cookies;
mod chaos;
mod charsets;
mod dispatch;
mod echo;
mod gates;
mod instruments;
mod large_pages;
mod lifecycle;
mod links;
mod ranges;
mod sessions;
mod soap;
mod websocket;
