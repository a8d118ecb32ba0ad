//! An outside server's answer read to a cap, never whole: the identity provider's discovery
//! document, key set and token answers, the LLM's completions. Found when tried: a 100 MB key set, fetched
//! again at an anonymous post's asking, took the gateway from 92 to 315 MB. A declared
//! `Content-Length` over the cap is refused before a byte is read.

/// Why an answer was not read.
#[derive(Debug, thiserror::Error)]
pub enum BoundedBodyError {
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the answer could not be read")]
    Transport(#[source] reqwest::Error),
}

/// The body of `response`, at most `max` bytes.
pub async fn read_capped(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, BoundedBodyError> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(BoundedBodyError::TooLarge(max));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(BoundedBodyError::Transport)?
    {
        if body.len() + chunk.len() > max {
            return Err(BoundedBodyError::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::{read_capped, BoundedBodyError};

    fn answer(body: Vec<u8>) -> reqwest::Response {
        reqwest::Response::from(http::Response::new(body))
    }

    #[tokio::test]
    async fn an_answer_of_the_cap_is_read_and_one_byte_more_is_refused() {
        let read = read_capped(answer(vec![b'x'; 64]), 64).await;
        assert_eq!(read.map(|b| b.len()).ok(), Some(64));
        let over = read_capped(answer(vec![b'x'; 65]), 64).await;
        assert!(
            matches!(over, Err(BoundedBodyError::TooLarge(64))),
            "{over:?}"
        );
    }
}
