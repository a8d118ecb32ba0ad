//! Test helpers: start an estate, address a site through its `Host` header.

use std::net::SocketAddr;

use egov_estate::{site, Credential, EstateOptions, RunningEstate, Site};
use reqwest::header::HOST;
use reqwest::{Method, RequestBuilder};

/// A running estate and a client that follows no redirects.
pub struct TestEstate {
    pub estate: RunningEstate,
    pub client: reqwest::Client,
}

impl TestEstate {
    /// An estate without chaos (no latency, no 502s), seed 42.
    pub fn calm() -> Self {
        Self::with(EstateOptions::calm(42))
    }

    /// An estate with `options`.
    pub fn with(options: EstateOptions) -> Self {
        let addr: SocketAddr = "127.0.0.1:0".parse().expect("address");
        let estate = RunningEstate::start(addr, options).expect("estate starts");
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .expect("client");
        TestEstate { estate, client }
    }

    /// A request for `path` on the legacy `host`.
    pub fn request(&self, method: Method, host: &str, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("http://{}{}", self.estate.addr(), path))
            .header(HOST, host)
    }

    /// A `GET` for `path` on the legacy `host`.
    pub fn get(&self, host: &str, path: &str) -> RequestBuilder {
        self.request(Method::GET, host, path)
    }

    /// A `GET` for `rel` below the base path of the site `id`.
    pub fn get_site(&self, id: &str, rel: &str) -> RequestBuilder {
        let s = site_of(id);
        self.get(&s.host, &format!("{}{}", s.base(), rel))
    }
}

/// The catalog entry of `id`.
pub fn site_of(id: &str) -> &'static Site {
    site(id).unwrap_or_else(|| panic!("no site {id}"))
}

/// The basic-auth credentials of `id`.
pub fn basic(id: &str) -> (String, String) {
    match egov_estate::credential(id) {
        Some(Credential::Basic { username, password }) => (username, password),
        other => panic!("{id} has no basic credential: {other:?}"),
    }
}

/// The index of `id` in the catalog (the chaos functions take it).
pub fn index_of(id: &str) -> usize {
    egov_estate::sites()
        .iter()
        .position(|s| s.id == id)
        .unwrap_or_else(|| panic!("no site {id}"))
}

/// All values of a response header, as strings.
pub fn header_values(response: &reqwest::Response, name: &str) -> Vec<String> {
    response
        .headers()
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect()
}

/// One header value, as a string.
pub fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    header_values(response, name).into_iter().next()
}
