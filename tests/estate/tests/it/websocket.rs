//! The websocket echo instrument.

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::common::TestEstate;

#[tokio::test]
async fn websocket_echoes_text_and_binary() {
    let estate = TestEstate::calm();
    let mut request = format!("ws://{}/cnie-renewal/__estate/ws", estate.estate.addr())
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("host", "www.cnie.ma".parse().expect("host"));
    let (mut socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade");
    assert_eq!(response.status(), 101);

    socket.send(Message::text("salam")).await.expect("send");
    let reply = socket.next().await.expect("reply").expect("message");
    assert_eq!(reply, Message::text("salam"));

    socket
        .send(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .expect("send");
    let reply = socket.next().await.expect("reply").expect("message");
    assert_eq!(reply, Message::binary(vec![0u8, 1, 2, 255]));

    socket.close(None).await.expect("close");
}
