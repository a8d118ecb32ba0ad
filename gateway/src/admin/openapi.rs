//! The OpenAPI 3.1 document of the ministries' API, served at `/api/v1/openapi.json`. Paths
//! are absolute (`/api/v1/...`), so a client generated from it needs only the listener's
//! address.

/// The document (JSON).
pub const DOCUMENT: &str = r##"{
  "openapi": "3.1.0",
  "info": {
    "title": "egov-gateway: the ministries' API",
    "version": "1.0.0",
    "description": "Each ministry registers and changes its own services, live. A service is exactly its service file's schema, as JSON. Credentials: Authorization: Bearer <API key or OAuth2 client-credentials access token>; a ministry reads and writes only its own services, the platform role all of them. Secrets are given write-only as { \"value\": \"...\" } and are never returned."
  },
  "servers": [{ "url": "/" }],
  "security": [{ "bearer": [] }],
  "paths": {
    "/api/v1/openapi.json": {
      "get": {
        "summary": "This document",
        "security": [],
        "responses": { "200": { "description": "The OpenAPI document", "content": { "application/json": { "schema": { "type": "object" } } } } }
      }
    },
    "/api/v1/services": {
      "get": {
        "summary": "The caller's services",
        "responses": {
          "200": { "description": "The services the caller may see", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ServiceList" } } } },
          "401": { "$ref": "#/components/responses/Unauthenticated" },
          "429": { "$ref": "#/components/responses/Locked" }
        }
      },
      "post": {
        "summary": "Register a service",
        "parameters": [{ "$ref": "#/components/parameters/RequireHealthy" }],
        "requestBody": { "$ref": "#/components/requestBodies/Service" },
        "responses": {
          "201": { "$ref": "#/components/responses/Changed" },
          "400": { "$ref": "#/components/responses/BadRequest" },
          "401": { "$ref": "#/components/responses/Unauthenticated" },
          "429": { "$ref": "#/components/responses/Locked" },
          "403": { "$ref": "#/components/responses/Forbidden" },
          "409": { "$ref": "#/components/responses/Exists" },
          "413": { "$ref": "#/components/responses/TooLarge" },
          "415": { "$ref": "#/components/responses/NotJson" },
          "422": { "$ref": "#/components/responses/Invalid" },
          "503": { "$ref": "#/components/responses/Unavailable" }
        }
      }
    },
    "/api/v1/services/validate": {
      "post": {
        "summary": "Check a new service without registering it (dry run)",
        "parameters": [{ "$ref": "#/components/parameters/RequireHealthy" }],
        "requestBody": { "$ref": "#/components/requestBodies/Service" },
        "responses": {
          "200": { "$ref": "#/components/responses/Valid" },
          "401": { "$ref": "#/components/responses/Unauthenticated" },
          "429": { "$ref": "#/components/responses/Locked" },
          "403": { "$ref": "#/components/responses/Forbidden" },
          "409": { "$ref": "#/components/responses/Exists" },
          "413": { "$ref": "#/components/responses/TooLarge" },
          "415": { "$ref": "#/components/responses/NotJson" },
          "422": { "$ref": "#/components/responses/Invalid" }
        }
      }
    },
    "/api/v1/services/{id}": {
      "parameters": [{ "$ref": "#/components/parameters/Id" }],
      "get": {
        "summary": "A service's document",
        "responses": {
          "200": { "description": "The service file's schema, as JSON; ETag: its version", "headers": { "ETag": { "$ref": "#/components/headers/ETag" }, "Egov-Not-Serving": { "description": "Present when this stored version does not serve (a change held back: its last good version serves instead): its problems, as key: reason", "schema": { "type": "string" } } }, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Service" } } } },
          "401": { "$ref": "#/components/responses/Unauthenticated" },
          "429": { "$ref": "#/components/responses/Locked" },
          "403": { "$ref": "#/components/responses/Forbidden" },
          "404": { "$ref": "#/components/responses/NotFound" }
        }
      },
      "put": {
        "summary": "Replace a service",
        "parameters": [{ "$ref": "#/components/parameters/IfMatch" }, { "$ref": "#/components/parameters/RequireHealthy" }],
        "requestBody": { "$ref": "#/components/requestBodies/Service" },
        "responses": {
          "200": { "$ref": "#/components/responses/Changed" },
          "401": { "$ref": "#/components/responses/Unauthenticated" },
          "429": { "$ref": "#/components/responses/Locked" },
          "403": { "$ref": "#/components/responses/Forbidden" },
          "404": { "$ref": "#/components/responses/NotFound" },
          "409": { "$ref": "#/components/responses/Unreadable" },
          "412": { "$ref": "#/components/responses/Conflict" },
          "413": { "$ref": "#/components/responses/TooLarge" },
          "415": { "$ref": "#/components/responses/NotJson" },
          "422": { "$ref": "#/components/responses/Invalid" }
        }
      },
      "patch": {
        "summary": "Change part of a service (JSON merge patch, RFC 7386)",
        "parameters": [{ "$ref": "#/components/parameters/IfMatch" }, { "$ref": "#/components/parameters/RequireHealthy" }],
        "requestBody": { "required": true, "content": { "application/merge-patch+json": { "schema": { "type": "object" } }, "application/json": { "schema": { "type": "object" } } } },
        "responses": {
          "200": { "$ref": "#/components/responses/Changed" },
          "401": { "$ref": "#/components/responses/Unauthenticated" },
          "429": { "$ref": "#/components/responses/Locked" },
          "403": { "$ref": "#/components/responses/Forbidden" },
          "404": { "$ref": "#/components/responses/NotFound" },
          "409": { "$ref": "#/components/responses/Unreadable" },
          "412": { "$ref": "#/components/responses/Conflict" },
          "413": { "$ref": "#/components/responses/TooLarge" },
          "415": { "$ref": "#/components/responses/NotJson" },
          "422": { "$ref": "#/components/responses/Invalid" }
        }
      },
      "delete": {
        "summary": "Remove a service",
        "parameters": [{ "$ref": "#/components/parameters/IfMatch" }],
        "responses": {
          "204": { "description": "Removed; no longer served" },
          "200": { "description": "Removed from the store, but the registry could not be built again without it: still served until the platform mends it", "content": { "application/json": { "schema": { "type": "object", "properties": { "id": { "type": "string" }, "version": { "type": "integer" }, "deleted": { "const": true }, "serving": { "const": true }, "still_serving_because": { "type": "string" } } } } } },
          "401": { "$ref": "#/components/responses/Unauthenticated" },
          "429": { "$ref": "#/components/responses/Locked" },
          "403": { "$ref": "#/components/responses/Forbidden" },
          "404": { "$ref": "#/components/responses/NotFound" },
          "409": { "$ref": "#/components/responses/Unreadable" },
          "412": { "$ref": "#/components/responses/Conflict" }
        }
      }
    },
    "/api/v1/services/{id}/validate": {
      "parameters": [{ "$ref": "#/components/parameters/Id" }],
      "post": {
        "summary": "Check a replacement without applying it (dry run)",
        "parameters": [{ "$ref": "#/components/parameters/RequireHealthy" }],
        "requestBody": { "$ref": "#/components/requestBodies/Service" },
        "responses": {
          "200": { "$ref": "#/components/responses/Valid" },
          "401": { "$ref": "#/components/responses/Unauthenticated" },
          "429": { "$ref": "#/components/responses/Locked" },
          "403": { "$ref": "#/components/responses/Forbidden" },
          "404": { "$ref": "#/components/responses/NotFound" },
          "413": { "$ref": "#/components/responses/TooLarge" },
          "415": { "$ref": "#/components/responses/NotJson" },
          "422": { "$ref": "#/components/responses/Invalid" }
        }
      }
    },
    "/api/v1/services/{id}/history": {
      "parameters": [{ "$ref": "#/components/parameters/Id" }],
      "get": {
        "summary": "Every version of a service: who, when, what changed, 50 at most an answer",
        "parameters": [
          { "name": "limit", "in": "query", "required": false, "description": "How many versions (1-50, default 50): the newest of those asked for", "schema": { "type": "integer", "minimum": 1, "maximum": 50 } },
          { "name": "before", "in": "query", "required": false, "description": "Only versions older than this one: the `older` of the answer before", "schema": { "type": "integer" } }
        ],
        "responses": {
          "200": { "description": "The page, oldest first; `older` is the `before` of the page before it (null: none)", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/History" } } } },
          "400": { "$ref": "#/components/responses/BadRequest" },
          "401": { "$ref": "#/components/responses/Unauthenticated" },
          "429": { "$ref": "#/components/responses/Locked" },
          "403": { "$ref": "#/components/responses/Forbidden" },
          "404": { "$ref": "#/components/responses/NotFound" }
        }
      }
    },
    "/api/v1/services/{id}/feedback": {
      "parameters": [{ "$ref": "#/components/parameters/Id" }],
      "get": {
        "summary": "Citizens' \"not what I meant\" answers about the service (redacted), newest first",
        "responses": {
          "200": { "description": "The answers", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Feedback" } } } },
          "401": { "$ref": "#/components/responses/Unauthenticated" },
          "429": { "$ref": "#/components/responses/Locked" },
          "403": { "$ref": "#/components/responses/Forbidden" },
          "404": { "$ref": "#/components/responses/NotFound" },
          "503": { "description": "The feedback store cannot be read", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }
        }
      }
    },
    "/api/v1/services/{id}/rollback/{version}": {
      "parameters": [{ "$ref": "#/components/parameters/Id" }, { "name": "version", "in": "path", "required": true, "schema": { "type": "integer", "minimum": 0 } }],
      "post": {
        "summary": "Restore a version (a new version, checked like any change)",
        "parameters": [{ "$ref": "#/components/parameters/IfMatch" }],
        "responses": {
          "200": { "$ref": "#/components/responses/Changed" },
          "401": { "$ref": "#/components/responses/Unauthenticated" },
          "429": { "$ref": "#/components/responses/Locked" },
          "403": { "$ref": "#/components/responses/Forbidden" },
          "404": { "$ref": "#/components/responses/NotFound" },
          "412": { "$ref": "#/components/responses/Conflict" },
          "422": { "$ref": "#/components/responses/Invalid" }
        }
      }
    },
    "/api/v1/services/{id}/health": {
      "parameters": [{ "$ref": "#/components/parameters/Id" }],
      "get": {
        "summary": "Whether the service's own backends accept connections now",
        "responses": {
          "200": { "description": "Each backend", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Health" } } } },
          "401": { "$ref": "#/components/responses/Unauthenticated" },
          "429": { "$ref": "#/components/responses/Locked" },
          "403": { "$ref": "#/components/responses/Forbidden" },
          "404": { "$ref": "#/components/responses/NotFound" }
        }
      }
    },
    "/api/v1/services/{id}/purge": {
      "parameters": [{ "$ref": "#/components/parameters/Id" }],
      "post": {
        "summary": "Remove the service's stored answers from the response cache of every instance: all of them, or only the given paths",
        "requestBody": { "required": false, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Purge" } } } },
        "responses": {
          "200": { "description": "Purged everywhere", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Purged" } } } },
          "400": { "$ref": "#/components/responses/BadRequest" },
          "401": { "$ref": "#/components/responses/Unauthenticated" },
          "429": { "$ref": "#/components/responses/Locked" },
          "403": { "$ref": "#/components/responses/Forbidden" },
          "404": { "$ref": "#/components/responses/NotFound" },
          "422": { "$ref": "#/components/responses/Invalid" },
          "503": { "$ref": "#/components/responses/Unavailable" }
        }
      }
    }
  },
  "components": {
    "securitySchemes": {
      "bearer": { "type": "http", "scheme": "bearer", "description": "An API key (egov_<id>_<secret>) or an OAuth2 client-credentials access token (JWT)" }
    },
    "parameters": {
      "Id": { "name": "id", "in": "path", "required": true, "schema": { "type": "string", "pattern": "^[a-z0-9-]+$" } },
      "IfMatch": { "name": "If-Match", "in": "header", "required": false, "description": "The ETag read; the change is refused with 412 if the service changed since", "schema": { "type": "string" } },
      "RequireHealthy": { "name": "require_healthy", "in": "query", "required": false, "description": "Refuse the change unless every backend accepts a connection", "schema": { "type": "boolean" } }
    },
    "headers": {
      "ETag": { "description": "The service's version, quoted", "schema": { "type": "string" } }
    },
    "requestBodies": {
      "Service": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Service" } } } }
    },
    "responses": {
      "Changed": { "description": "The change is live on this instance", "headers": { "ETag": { "$ref": "#/components/headers/ETag" } }, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Changed" } } } },
      "Valid": { "description": "The document would be accepted", "content": { "application/json": { "schema": { "type": "object", "properties": { "valid": { "type": "boolean" }, "service": { "type": "string" } } } } } },
      "Locked": { "description": "Too many invalid credentials from this address: refused for a minute, whatever the credential", "headers": { "Retry-After": { "schema": { "type": "integer" } } }, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
      "BadRequest": { "description": "Not JSON, a malformed If-Match, or a query parameter that does not parse", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
      "TooLarge": { "description": "A body over 256 KB; nothing changed", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
      "NotJson": { "description": "A body declared as anything but JSON (application/json or a +json type); nothing changed", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
      "Unauthenticated": { "description": "No valid credential", "headers": { "WWW-Authenticate": { "schema": { "type": "string" } } }, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
      "Forbidden": { "description": "Another ministry's service", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
      "NotFound": { "description": "No such service", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
      "Exists": { "description": "A service with this id is already registered (change it with PUT or PATCH)", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
      "Conflict": { "description": "The service changed since the If-Match version (or a service with this id was created meanwhile)", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
      "Invalid": { "description": "Nothing changed: every problem, with the JSON pointer of its member", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
      "Unavailable": { "description": "The registry store is unavailable; nothing changed", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
      "Unreadable": { "description": "The service's stored record cannot be read (`unreadable_record`); nothing changed: the platform's operators must remove it", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }
    },
    "schemas": {
      "Service": {
        "type": "object",
        "description": "A service file (config/services/<ministry>/<id>.toml) as JSON",
        "required": ["id", "ministry", "category", "access", "names", "descriptions", "legacy", "upstream"],
        "properties": {
          "id": { "type": "string", "pattern": "^[a-z0-9-]+$" },
          "ministry": { "type": "string" },
          "agency": { "type": "string" },
          "category": { "type": "string" },
          "access": { "enum": ["public", "citizen", "professional"] },
          "keywords": { "type": "array", "items": { "type": "string" } },
          "examples": { "type": "array", "items": { "type": "string" } },
          "names": { "$ref": "#/components/schemas/Localized" },
          "descriptions": { "$ref": "#/components/schemas/Localized" },
          "prepare": { "$ref": "#/components/schemas/Localized", "description": "What a citizen should have at hand before starting" },
          "legacy": { "type": "object", "required": ["hostname"], "properties": { "hostname": { "type": "string" }, "aliases": { "type": "array", "maxItems": 8, "description": "Other names of the same site (www. and the bare domain): their links, redirects and requests are the service's", "items": { "type": "string" } }, "path": { "type": "string" }, "quirks": { "type": "array", "items": { "type": "string" } }, "on_host": { "enum": ["redirect", "proxy"] }, "error_pages": { "enum": ["portal", "site"], "default": "portal", "description": "Whose page a server error (5xx) of the site shows as a page (any type but JSON or XML): the portal's, in the citizen's language with the request id, or the site's own. JSON, XML and SOAP answers, and what a legacy page's script fetches, always pass as the site wrote them" } } },
          "upstream": { "type": "object", "required": ["url"], "properties": { "url": { "oneOf": [{ "type": "string" }, { "type": "array", "items": { "oneOf": [{ "type": "string" }, { "type": "object", "required": ["url"], "properties": { "url": { "type": "string" }, "weight": { "type": "integer", "minimum": 1, "maximum": 100 } } }] } }] }, "host": { "type": "string" }, "timeouts": { "type": "object", "properties": { "connect": { "type": "string" }, "read": { "type": "string" }, "total": { "type": "string" } } }, "health_check": { "type": "object", "description": "Active checks in the background", "properties": { "kind": { "enum": ["http", "tcp"] }, "path": { "type": "string" }, "interval": { "type": "string" }, "timeout": { "type": "string" }, "healthy_threshold": { "type": "integer" }, "unhealthy_threshold": { "type": "integer" } } }, "outlier": { "type": "object", "description": "Passive ejection", "properties": { "consecutive_failures": { "type": "integer" }, "base_ejection": { "type": "string" }, "max_ejection": { "type": "string" } } }, "breaker": { "type": "object", "description": "The service's circuit breaker", "properties": { "failures": { "type": "integer" }, "open_for": { "type": "string" } } }, "affinity": { "enum": ["none", "citizen"], "description": "citizen: each citizen to one backend while it is in service (by her session when signed in, else her address), for a site keeping sessions in each backend's memory" }, "failover_on": { "type": "array", "items": { "enum": [502, 503, 504] }, "uniqueItems": true, "maxItems": 3, "description": "The site's own answers after which a request that can be sent again (not a POST) goes to the next backend in service; the last backend's answer is the citizen's" } } },
          "adapters": { "type": "array", "items": { "type": "object", "required": ["step"], "properties": { "step": { "type": "string" } } } },
          "cache": { "type": "object", "description": "What the shared response cache may keep of the service's answers", "properties": { "enabled": { "type": "boolean" }, "default_ttl": { "type": "string" }, "max_ttl": { "type": "string" }, "max_object_size": { "type": "integer" }, "paths": { "type": "array", "items": { "type": "string" } }, "bypass_paths": { "type": "array", "items": { "type": "string" } }, "public_paths": { "type": "array", "items": { "type": "string" } }, "ignore_query": { "type": "array", "items": { "type": "string" } }, "stale_while_revalidate": { "type": "string" }, "stale_if_error": { "type": "string" }, "strip_set_cookie_paths": { "type": "array", "items": { "type": "string" } } } },
          "identity": { "type": "object", "description": "What the citizen's identity assertion to this service carries besides the pairwise sub", "properties": { "claims": { "type": "array", "items": { "type": "string", "enum": ["name", "acr", "professional"] } }, "logout_paths": { "type": "array", "maxItems": 8, "description": "The legacy site's own log-out pages (paths under the service's root): the portal's logout answers them, so the site's link ends the citizen's session everywhere", "items": { "type": "string", "pattern": "^/", "maxLength": 256 } } } },
          "limits": { "type": "object", "description": "What this service takes on top of the portal's limits", "properties": { "rate_per_ip": { "type": "string", "description": "n/unit (600/min) from one client address" }, "rate_total": { "type": "string", "description": "n/unit from everyone together: what the backend can take" }, "max_body_bytes": { "type": "integer", "description": "Larger request bodies get 413; default: the portal's limits.max_body_bytes (64 MiB unless set)" }, "methods": { "type": "array", "items": { "type": "string", "enum": ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] }, "description": "The methods the service takes; others get 405" } } }
        }
      },
      "Localized": { "type": "object", "required": ["ar", "fr", "en"], "properties": { "ar": { "type": "string" }, "fr": { "type": "string" }, "en": { "type": "string" }, "zgh": { "type": "string", "description": "Amazigh in Tifinagh; falls back to Arabic when absent" } } },
      "Secret": { "description": "Write-only: { value } is taken out and kept by the registry; the document then reads { stored }", "oneOf": [{ "type": "object", "required": ["value"], "properties": { "value": { "type": "string" } } }, { "type": "object", "required": ["stored"], "properties": { "stored": { "type": "string" } } }] },
      "ServiceList": { "type": "object", "properties": { "services": { "type": "array", "items": { "type": "object", "properties": { "id": { "type": "string" }, "ministry": { "type": "string" }, "version": { "type": "integer" }, "serving": { "type": "boolean", "description": "false: this stored version does not serve (a change held back)" }, "not_serving_because": { "type": "string" } } } } } },
      "Changed": { "type": "object", "properties": { "id": { "type": "string" }, "ministry": { "type": "string" }, "version": { "type": "integer" }, "document": { "$ref": "#/components/schemas/Service" }, "serving": { "type": "boolean", "description": "false: stored, but the gateway could not build its registry again with it (the platform's fault); it serves once mended" }, "not_serving_because": { "type": "string" } } },
      "History": { "type": "object", "properties": { "service": { "type": "string" }, "older": { "type": ["integer", "null"] }, "history": { "type": "array", "items": { "type": "object", "properties": { "version": { "type": "integer" }, "action": { "enum": ["create", "replace", "patch", "delete", "rollback", "file_edit"] }, "actor": { "type": "string" }, "at": { "type": "string", "format": "date-time" }, "diff": { "type": "object" } } } } } },
      "Feedback": { "type": "object", "required": ["service", "feedback"], "properties": { "service": { "type": "string" }, "feedback": { "type": "array", "items": { "type": "object", "required": ["at", "service", "query", "lang"], "properties": { "at": { "type": "integer", "description": "Unix seconds" }, "service": { "type": "string", "description": "The service the citizen chose" }, "routed": { "type": ["string", "null"], "description": "The service the router answered with" }, "query": { "type": "string", "description": "The query, redacted" }, "lang": { "type": "string", "enum": ["ar", "zgh", "fr", "en"] } } } } } },
      "Purge": { "type": "object", "additionalProperties": false, "properties": { "paths": { "type": "array", "description": "Paths of the service with their query (\"/a?b=1\"); absent: every stored answer", "items": { "type": "string" } } } },
      "Purged": { "type": "object", "properties": { "service": { "type": "string" }, "purged": { "oneOf": [{ "const": "all" }, { "type": "array", "items": { "type": "string" } }] }, "found": { "type": "integer", "description": "How many of the paths were stored on this instance or in the shared tier" }, "generation": { "type": "integer" } } },
      "Health": { "type": "object", "properties": { "service": { "type": "string" }, "healthy": { "type": "boolean" }, "backends": { "type": "array", "items": { "type": "object", "properties": { "address": { "type": "string" }, "reachable": { "type": "boolean", "description": "Accepts a connection now" }, "connect_ms": { "type": "number" }, "passes_health_check": { "type": "boolean", "description": "Passes the service's active health check (always true without one)" }, "ejected": { "type": "boolean", "description": "Taken out for failing citizens' requests, for now" }, "in_service": { "type": "boolean", "description": "The gateway sends citizens to it" } } } }, "breaker": { "enum": ["closed", "half-open", "open", null], "description": "The service's circuit breaker (null: none); open, no citizen reaches any backend" }, "unresolved": { "type": "array", "items": { "type": "string" } } } },
      "Error": { "type": "object", "required": ["error", "error_description"], "properties": { "error": { "type": "string" }, "error_description": { "type": "string" }, "problems": { "type": "array", "items": { "type": "object", "required": ["pointer", "message"], "properties": { "pointer": { "type": "string", "description": "JSON pointer of the offending member" }, "message": { "type": "string" } } } } } }
    }
  }
}"##;

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_is_json_and_every_path_is_absolute() {
        let doc: serde_json::Value = serde_json::from_str(super::DOCUMENT).expect("JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().expect("paths");
        assert!(
            paths.keys().all(|p| p.starts_with("/api/v1/")),
            "{:?}",
            paths.keys()
        );
    }
}
