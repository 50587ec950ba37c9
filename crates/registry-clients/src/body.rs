//! Reading response bodies under a cap, chunk by chunk as they arrive, so that a registry
//! that sends an endless or huge body is cut off at the cap and costs at most that much
//! memory. Every response body the clients read goes through here, under the cap for its kind.
//!
//! # What this module does not do
//! It does not parse bodies, retry or decide what a status means; the clients do.

use reqwest::Response;

use crate::error::ErrorKind;

/// A manifest or index: the OCI Distribution spec's own limit for manifests.
pub const MANIFEST_LIMIT: u64 = 4 * 1024 * 1024;
/// One page of a `tags/list` answer; a thousand tags take some 50 KiB.
pub const TAG_PAGE_LIMIT: u64 = 16 * 1024 * 1024;
/// A token answer or an error body: a few hundred bytes in practice.
pub const SMALL_LIMIT: u64 = 64 * 1024;
/// One page of a hosted web API's listing (Docker Hub tags, Quay tags, GitHub releases).
pub const HOSTED_LISTING_LIMIT: u64 = 16 * 1024 * 1024;

/// The whole body of `response`, or [`ErrorKind::BodyTooLarge`] as soon as it passes `limit`
/// bytes (at once when `Content-Length` announces more), or [`ErrorKind::Transport`] when the
/// connection fails before the end.
pub(crate) async fn read_capped(mut response: Response, limit: u64) -> Result<Vec<u8>, ErrorKind> {
    let too_large = |response: &Response| ErrorKind::BodyTooLarge {
        url: response.url().to_string(),
        limit,
    };
    if response
        .content_length()
        .is_some_and(|length| length > limit)
    {
        return Err(too_large(&response));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ErrorKind::Transport)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_large(&response));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An error body as text, read under [`SMALL_LIMIT`]. A body cut short by the connection
/// gives what arrived, since the status already says what failed; a body over the cap is an
/// error like any other.
pub(crate) async fn read_error_text(mut response: Response) -> Result<String, ErrorKind> {
    if response
        .content_length()
        .is_some_and(|length| length > SMALL_LIMIT)
    {
        return Err(ErrorKind::BodyTooLarge {
            url: response.url().to_string(),
            limit: SMALL_LIMIT,
        });
    }
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        if (body.len() + chunk.len()) as u64 > SMALL_LIMIT {
            return Err(ErrorKind::BodyTooLarge {
                url: response.url().to_string(),
                limit: SMALL_LIMIT,
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}
