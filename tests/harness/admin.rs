//! A client of a gateway's admin API (`/api/v1`), holding one credential.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::net::SocketAddr;

/// One answer: status, `ETag`, body (JSON, or `null` when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub etag: Option<String>,
    pub www_authenticate: Option<String>,
    /// `Egov-Not-Serving`: on a read of a stored version that does not serve, why.
    pub not_serving: Option<String>,
    pub body: Value,
}

impl Answer {
    /// The JSON pointers of a 422's problems.
    pub fn pointers(&self) -> Vec<String> {
        self.body["problems"]
            .as_array()
            .map(|p| {
                p.iter()
                    .filter_map(|x| x["pointer"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The admin API of the gateway whose admin listener is `admin`, called with `key` (an API
/// key or access token; `None`: no `Authorization` at all).
#[derive(Clone)]
pub struct AdminApi {
    admin: SocketAddr,
    key: Option<String>,
    client: reqwest::Client,
}

impl AdminApi {
    pub fn new(admin: SocketAddr, key: Option<&str>) -> Self {
        Self {
            admin,
            key: key.map(str::to_string),
            client: crate::client(),
        }
    }

    /// `method` on `/api/v1<path>` with an optional JSON body and `If-Match`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Answer {
        let mut req = self
            .client
            .request(method, format!("http://{}/api/v1{path}", self.admin));
        if let Some(k) = &self.key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(m) = if_match {
            req = req.header("if-match", m);
        }
        let r = req.send().await.expect("the admin listener answers");
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let (status, etag, www_authenticate, not_serving) = (
            r.status(),
            header("etag"),
            header("www-authenticate"),
            header("egov-not-serving"),
        );
        let text = r.text().await.expect("a body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
        };
        Answer {
            status,
            etag,
            www_authenticate,
            not_serving,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.call(Method::POST, path, Some(body), None).await
    }

    pub async fn patch(&self, path: &str, body: &Value, if_match: Option<&str>) -> Answer {
        self.call(Method::PATCH, path, Some(body), if_match).await
    }

    pub async fn put(&self, path: &str, body: &Value, if_match: Option<&str>) -> Answer {
        self.call(Method::PUT, path, Some(body), if_match).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.call(Method::DELETE, path, None, None).await
    }
}
