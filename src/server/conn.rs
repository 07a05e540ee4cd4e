//! Connection plumbing under the routes: the request line read with a deadline (so a client
//! that sends nothing, or a byte at a time, is let go), and [`Prefixed`], which hands those
//! bytes back to whichever protocol the connection turns out to speak.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// Time a client has to send its whole request line (and, in `ingest` and hyper, its head).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// A request line longer than this is HTTP's to refuse.
const MAX_LINE: usize = 2048;

/// Reads until the end of the request line, `MAX_LINE` bytes, the end of the connection or
/// [`HEAD_TIMEOUT`]; `None` when nothing came (the connection is to be closed).
pub async fn read_request_line<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Vec<u8>> {
    let mut line = Vec::with_capacity(512);
    let deadline = tokio::time::Instant::now() + HEAD_TIMEOUT;
    while !line.contains(&b'\n') && line.len() < MAX_LINE {
        // Into the vector's spare room: a buffer in this future would size every connection's task.
        line.reserve(512);
        match tokio::time::timeout_at(deadline, stream.read_buf(&mut line)).await {
            Ok(Ok(n)) if n > 0 => {}
            // Closed, failed, or out of time: a line without its end is not a request.
            _ => return None,
        }
    }
    Some(line)
}

/// A stream whose first bytes are `prefix` (already read from `inner`).
pub struct Prefixed<S> {
    prefix: Vec<u8>,
    read: usize,
    pub inner: S,
}

impl<S> Prefixed<S> {
    pub fn new(prefix: Vec<u8>, inner: S) -> Self {
        Prefixed { prefix, read: 0, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.read < this.prefix.len() {
            let n = buf.remaining().min(this.prefix.len() - this.read);
            buf.put_slice(&this.prefix[this.read..this.read + n]);
            this.read += n;
            if this.read == this.prefix.len() {
                this.prefix = Vec::new();
                this.read = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

/// Writes go straight to the stream. Vectored writes must be passed on: without them hyper
/// copies a response into a buffer of its own (up to 400 KiB per connection), so a stalled
/// listener would hold that much instead of being skipped forward by its broadcast.
impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_request_line_split_across_segments_is_read_whole() {
        let (mut client, mut server) = tokio::io::duplex(64);
        tokio::spawn(async move {
            for part in [&b"PU"[..], b"T /ra", b"dio HTTP/1.1\r\nHost: x\r\n\r\nbody"] {
                client.write_all(part).await.expect("write");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        let line = read_request_line(&mut server).await.expect("line");
        assert!(line.starts_with(b"PUT /radio HTTP/1.1\r\n"), "{}", String::from_utf8_lossy(&line));
        let mut all = Vec::new();
        let mut prefixed = Prefixed::new(line, server);
        let _ = tokio::time::timeout(Duration::from_millis(300), prefixed.read_to_end(&mut all)).await;
        assert!(String::from_utf8_lossy(&all).starts_with("PUT /radio HTTP/1.1\r\nHost: x\r\n\r\nbody"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_never_ends_its_line_is_let_go() {
        let (mut client, mut server) = tokio::io::duplex(64);
        client.write_all(b"GET /live/demo.mp3").await.expect("write");
        assert_eq!(read_request_line(&mut server).await, None);
    }
}
