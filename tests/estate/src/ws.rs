//! The WebSocket instrument (`GET P/__estate/ws`): echoes every text and
//! binary message back, so tests can check that the gateway proxies upgrades
//! end to end.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::respond;
use crate::Site;

/// Upgrades `request` to a WebSocket echo (setting a session cookie of `site`'s), or answers
/// 400/426 if it is not an upgrade.
pub(crate) async fn upgrade(site: &Site, request: Request) -> Response {
    match WebSocketUpgrade::from_request(request, &()).await {
        Ok(upgrade) => {
            let mut response = upgrade.on_upgrade(echo).into_response();
            // Legacy WebSocket servers set their session cookie on the handshake, scoped to
            // their own domain and root, like any other answer.
            if let Ok(cookie) = axum::http::HeaderValue::from_str(&format!(
                "WSSESSION=ws1; Path=/; Domain={}",
                site.host
            )) {
                response
                    .headers_mut()
                    .append(axum::http::header::SET_COOKIE, cookie);
            }
            response
        }
        Err(rejection) => {
            let status = rejection.status();
            let status = if status.is_client_error() {
                status
            } else {
                StatusCode::BAD_REQUEST
            };
            respond::text(status, format!("websocket upgrade expected: {rejection}"))
        }
    }
}

async fn echo(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        let reply = match message {
            Message::Text(_) | Message::Binary(_) => message,
            Message::Close(_) => break,
            // Pings are answered by the protocol layer; pongs need no reply.
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        if socket.send(reply).await.is_err() {
            break;
        }
    }
}
