//! [`HeaderEdit`] over pingora's request and response headers.
//!
//! Pingora keeps the original case of header names beside the map, so headers must be
//! changed through its methods; these wrappers let the pure adapters do that.

use egov_adapters::headers::{HeaderEdit, HeaderSet};
use http::{HeaderName, HeaderValue};
use pingora::http::{RequestHeader, ResponseHeader};

/// Editable upstream request headers.
pub struct RequestHeaders<'a>(pub &'a mut RequestHeader);

/// Editable response headers.
pub struct ResponseHeaders<'a>(pub &'a mut ResponseHeader);

macro_rules! impl_edit {
    ($wrapper:ident) => {
        impl HeaderEdit for $wrapper<'_> {
            fn get(&self, name: &HeaderName) -> Option<&HeaderValue> {
                self.0.headers.get(name)
            }
            fn get_all(&self, name: &HeaderName) -> Vec<HeaderValue> {
                self.0.headers.get_all(name).iter().cloned().collect()
            }
            fn set(&mut self, name: HeaderName, value: HeaderValue) {
                // Only fails for invalid names/values, which typed values cannot be.
                let _ = self.0.insert_header(name, value);
            }
            fn append(&mut self, name: HeaderName, value: HeaderValue) {
                let _ = self.0.append_header(name, value);
            }
            fn remove(&mut self, name: &HeaderName) {
                self.0.remove_header(name);
            }
            fn remove_any(&mut self, names: &HeaderSet) {
                for name in names.present_in(&self.0.headers) {
                    self.0.remove_header(&name);
                }
            }
        }
    };
}

impl_edit!(RequestHeaders);
impl_edit!(ResponseHeaders);
