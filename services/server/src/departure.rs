//! Noticing that a client has gone while a non-streaming request is still
//! being answered.
//!
//! actix-web does not drop a handler's future when an HTTP/1 client
//! disconnects (actix/actix-web#1313, #3462): it learns of it only when it
//! writes the response. A streamed answer writes all the time and is
//! dropped promptly; a non-streaming one would generate to the end for
//! nobody and be recorded as answered. So each connection keeps a
//! duplicate of its socket's descriptor, and a handler that waits long can
//! watch it: a peek that reads end-of-file means the client closed its
//! side.

use actix_web::HttpRequest;
use std::any::Any;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

/// A duplicate of the connection's socket, kept in the connection data.
#[derive(Clone)]
pub(crate) struct ConnSocket(Arc<OwnedFd>);

/// `HttpServer::on_connect`: keeps a duplicate of a TCP connection's
/// descriptor (one `dup` per connection; closed with the connection).
pub(crate) fn on_connect(connection: &dyn Any, data: &mut actix_web::dev::Extensions) {
    if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>()
        && let Ok(fd) = tcp.as_fd().try_clone_to_owned()
    {
        data.insert(ConnSocket(Arc::new(fd)));
    }
}

/// Resolves when the client of `req` has closed its side of the
/// connection; never, where that cannot be watched (no TCP socket, or the
/// client already sent the next request on it).
///
/// # Cancel safety
/// Cancel safe: it only peeks, consuming nothing.
pub(crate) async fn departed(req: &HttpRequest) {
    let Some(socket) = req.conn_data::<ConnSocket>().cloned() else {
        return std::future::pending().await;
    };
    let watched = socket
        .0
        .try_clone()
        .map(std::net::TcpStream::from)
        .and_then(|s| {
            s.set_nonblocking(true)?;
            tokio::net::TcpStream::from_std(s)
        });
    let Ok(stream) = watched else {
        return std::future::pending().await;
    };
    let mut byte = [0u8; 1];
    match stream.peek(&mut byte).await {
        // End of file, or the connection broke: the client is gone.
        Ok(0) | Err(_) => {}
        // The client sent more (a pipelined request): it is still there,
        // and peeking would now return at once; stop watching.
        Ok(_) => std::future::pending().await,
    }
}
