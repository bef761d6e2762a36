//! The client port: the frame codec, one task pair per connection, and the
//! accept loop with ZooKeeper's per-IP connection limit.
//!
//! A connection knows frames, not operations: it decodes the request header
//! and body, hands the request to the core and writes back the frames the
//! core queues for it. Anything malformed closes that one connection.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Buf, BytesMut};
use futures::StreamExt;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::{Decoder, FramedRead};
use zab_core::jute::{JuteReader, Record};
use zab_core::proto::{ConnectRequest, Op, RequestHeader};

use crate::config::{Config, ALL_FOUR_LETTER_WORDS};
use crate::conn::{ConnHandle, Out};
use crate::core::CoreMsg;
use crate::request::Request;

/// Why a connection was closed.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame length {len} is outside 0..={max} (jute.maxbuffer)")]
    BadLength { len: i64, max: usize },
    #[error("malformed {what}: {source}")]
    Malformed {
        what: &'static str,
        source: zab_core::jute::JuteError,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What arrives on a client connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound {
    /// A four-letter word, only possible as the first bytes of a connection.
    FourLetter(String),
    Frame(BytesMut),
}

/// 4-byte big-endian length frames, capped by jute.maxbuffer.
pub struct ClientCodec {
    max: usize,
    first: bool,
}

impl ClientCodec {
    pub fn new(max: usize) -> ClientCodec {
        ClientCodec { max, first: true }
    }
}

impl Decoder for ClientCodec {
    type Item = Inbound;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, FrameError> {
        if src.len() < 4 {
            return Ok(None);
        }
        if self.first {
            if let Ok(w) = std::str::from_utf8(&src[..4]) {
                if ALL_FOUR_LETTER_WORDS.contains(&w) {
                    let w = w.to_owned();
                    src.advance(4);
                    self.first = false;
                    return Ok(Some(Inbound::FourLetter(w)));
                }
            }
        }
        let len = i32::from_be_bytes([src[0], src[1], src[2], src[3]]);
        if len < 0 || len as usize > self.max {
            return Err(FrameError::BadLength {
                len: len as i64,
                max: self.max,
            });
        }
        let len = len as usize;
        if src.len() < 4 + len {
            // Bounded by jute.maxbuffer, checked above.
            src.reserve(4 + len - src.len());
            return Ok(None);
        }
        src.advance(4);
        self.first = false;
        Ok(Some(Inbound::Frame(src.split_to(len))))
    }
}

/// Counts connections per client address (maxClientCnxns).
#[derive(Default)]
struct PerIp(Mutex<HashMap<IpAddr, u32>>);

struct IpGuard(Arc<PerIp>, IpAddr);

impl Drop for IpGuard {
    fn drop(&mut self) {
        let mut m = self.0 .0.lock().unwrap();
        if let Some(n) = m.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.1);
            }
        }
    }
}

/// Accept clients until the listener fails.
pub async fn accept_loop(listener: TcpListener, cfg: Arc<Config>, core: mpsc::Sender<CoreMsg>) {
    let per_ip = Arc::new(PerIp::default());
    let ids = AtomicU64::new(1);
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                continue;
            }
        };
        let guard = {
            let mut m = per_ip.0.lock().unwrap();
            let n = m.entry(addr.ip()).or_insert(0);
            if cfg.max_client_cnxns > 0 && *n >= cfg.max_client_cnxns {
                tracing::warn!(
                    "too many connections from {} - max is {}",
                    addr.ip(),
                    cfg.max_client_cnxns
                );
                continue;
            }
            *n += 1;
            IpGuard(per_ip.clone(), addr.ip())
        };
        let _ = stream.set_nodelay(true);
        let id = ids.fetch_add(1, Ordering::Relaxed);
        let core = core.clone();
        let cfg = cfg.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_connection(stream, addr, id, cfg, core).await {
                tracing::info!("closed connection from {addr}: {e}");
            }
            drop(guard);
        });
    }
}

async fn serve_connection(
    stream: TcpStream,
    addr: SocketAddr,
    id: u64,
    cfg: Arc<Config>,
    core: mpsc::Sender<CoreMsg>,
) -> Result<(), FrameError> {
    let (rd, mut wr) = stream.into_split();
    let mut frames = FramedRead::new(rd, ClientCodec::new(cfg.jute_max_buffer));
    let first = match frames.next().await {
        None => return Ok(()),
        Some(x) => x?,
    };
    let connect = match first {
        Inbound::FourLetter(word) => {
            let text = if cfg.four_letter_allowed(&word) {
                match crate::fourlw::ask(&core, &word, addr).await {
                    Some(text) => text,
                    None => return Ok(()),
                }
            } else {
                format!("{word} is not executed because it is not in the whitelist.\n")
            };
            wr.write_all(text.as_bytes()).await?;
            wr.shutdown().await?;
            return Ok(());
        }
        Inbound::Frame(f) => {
            ConnectRequest::from_bytes(&f).map_err(|source| FrameError::Malformed {
                what: "ConnectRequest",
                source,
            })?
        }
    };

    let (handle, mut rx) = ConnHandle::new(id, addr);
    let kill = handle.kill.clone();
    // The writer keeps only the byte count: no sender of its own queue.
    let queued_bytes = handle.queued_bytes.clone();
    let writer_kill = kill.clone();
    let writer = tokio::spawn(async move {
        let mut w = BufWriter::with_capacity(64 * 1024, wr);
        loop {
            let out = tokio::select! {
                _ = writer_kill.cancelled() => break,
                o = rx.recv() => o,
            };
            match out {
                Some(Out::Frame(f)) => {
                    if w.write_all(&f).await.is_err() {
                        break;
                    }
                    queued_bytes.fetch_sub(f.len(), Ordering::AcqRel);
                    if rx.is_empty() && w.flush().await.is_err() {
                        break;
                    }
                }
                Some(Out::Close) | None => {
                    let _ = w.flush().await;
                    let _ = w.shutdown().await;
                    break;
                }
            }
        }
        writer_kill.cancel();
    });

    if core
        .send(CoreMsg::Connect {
            conn: handle,
            req: connect,
        })
        .await
        .is_err()
    {
        return Ok(());
    }
    let result = loop {
        let item = tokio::select! {
            _ = kill.cancelled() => break Ok(()),
            item = frames.next() => item,
        };
        let f = match item {
            None => break Ok(()),
            Some(Err(e)) => break Err(e),
            Some(Ok(Inbound::Frame(f))) => f,
            Some(Ok(Inbound::FourLetter(_))) => unreachable!("only first"),
        };
        let f = f.freeze();
        let mut r = JuteReader::new(&f);
        let hdr = match RequestHeader::read(&mut r) {
            Ok(h) => h,
            Err(source) => {
                break Err(FrameError::Malformed {
                    what: "request header",
                    source,
                })
            }
        };
        let body = f.slice(8..);
        let op = match Op::parse(hdr.op_type, &body) {
            Ok(op) => op,
            Err(source) => {
                break Err(FrameError::Malformed {
                    what: zab_core::records::op::name(hdr.op_type),
                    source,
                })
            }
        };
        let req = Request {
            session_id: 0,
            conn_id: id,
            xid: hdr.xid,
            op_type: hdr.op_type,
            op,
            body,
        };
        if core.send(CoreMsg::Request(req)).await.is_err() {
            break Ok(());
        }
    };
    kill.cancel();
    let _ = core.send(CoreMsg::Closed { conn_id: id }).await;
    let _ = writer.await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incomplete_input_is_not_an_error() {
        let mut c = ClientCodec::new(100);
        let mut b = BytesMut::from(&[0u8, 0, 0][..]);
        assert_eq!(c.decode(&mut b).unwrap(), None);
        let mut b = BytesMut::from(&[0u8, 0, 0, 5, 1, 2][..]);
        assert_eq!(c.decode(&mut b).unwrap(), None);
    }

    #[test]
    fn oversized_and_negative_lengths_are_refused() {
        let mut c = ClientCodec::new(100);
        let mut b = BytesMut::from(&[0u8, 0, 0, 101][..]);
        assert!(matches!(
            c.decode(&mut b),
            Err(FrameError::BadLength { len: 101, .. })
        ));
        let mut c = ClientCodec::new(100);
        let mut b = BytesMut::from(&[0xffu8, 0xff, 0xff, 0xfe][..]);
        assert!(c.decode(&mut b).is_err());
    }

    #[test]
    fn four_letter_word_only_first() {
        let mut c = ClientCodec::new(1 << 20);
        let mut b = BytesMut::from(&b"ruok"[..]);
        assert_eq!(
            c.decode(&mut b).unwrap(),
            Some(Inbound::FourLetter("ruok".into()))
        );
        let mut c = ClientCodec::new(1 << 30);
        let mut b = BytesMut::from(&[0u8, 0, 0, 1, 7][..]);
        assert!(matches!(c.decode(&mut b).unwrap(), Some(Inbound::Frame(_))));
        // After the first frame, "ruok" is read as a length, here too large.
        let mut b = BytesMut::from(&b"ruok"[..]);
        assert!(matches!(
            c.decode(&mut b),
            Err(FrameError::BadLength { .. })
        ));
    }
}
