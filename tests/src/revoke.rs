//! Revocation for the TLS tests (tests/tests/tls_revocation.rs): the test's CA
//! ([`crate::tls::Pki`]) run as `openssl ca` runs one (an index of issued and revoked
//! certificates), clients issued with a CRL distribution point and an OCSP responder
//! in their certificates, and one HTTP server on 127.0.0.1 that serves the CRL
//! (GET) and answers OCSP requests (POST) with `openssl ocsp -index` in file mode.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::tls::Pki;

fn run(dir: &Path, args: &[&str]) {
    let out = crate::run_with_timeout(
        Command::new("openssl").args(args).current_dir(dir),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The CA of a [`Pki`] as `openssl ca` with its index, and the HTTP server its
/// certificates point at.
pub struct RevokingCa {
    pub dir: PathBuf,
    pub port: u16,
    stop: Arc<AtomicBool>,
    /// OCSP requests answered (to tell that a server asked).
    pub ocsp_requests: Arc<AtomicUsize>,
    /// CRL downloads served.
    pub crl_requests: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RevokingCa {
    /// Set up `openssl ca` beside `pki`'s CA and start the HTTP server.
    pub fn new(pki: &Pki) -> RevokingCa {
        let dir = pki.dir.path().to_path_buf();
        let port = crate::free_port();
        std::fs::create_dir_all(dir.join("newcerts")).unwrap();
        std::fs::write(dir.join("index.txt"), "").unwrap();
        std::fs::write(dir.join("index.txt.attr"), "unique_subject = no\n").unwrap();
        std::fs::write(dir.join("crlnumber"), "1000\n").unwrap();
        std::fs::write(dir.join("serial.ca"), "5000\n").unwrap();
        let base = format!("http://127.0.0.1:{port}");
        std::fs::write(
            dir.join("ca.cnf"),
            format!(
                "[ ca ]\ndefault_ca = CA_default\n\
                 [ CA_default ]\ndir = .\ndatabase = index.txt\nnew_certs_dir = newcerts\n\
                 certificate = ca.pem\nprivate_key = ca.key\nserial = serial.ca\n\
                 crlnumber = crlnumber\ndefault_md = sha256\ndefault_days = 30\n\
                 default_crl_days = 7\npolicy = policy_any\nunique_subject = no\n\
                 [ policy_any ]\norganizationName = optional\norganizationalUnitName = optional\n\
                 commonName = supplied\n\
                 [ crl_only ]\nextendedKeyUsage = clientAuth,serverAuth\n\
                 crlDistributionPoints = URI:{base}/ca.crl\n\
                 [ ocsp_only ]\nextendedKeyUsage = clientAuth,serverAuth\n\
                 authorityInfoAccess = OCSP;URI:{base}/ocsp\n\
                 [ crl_server ]\nextendedKeyUsage = clientAuth,serverAuth\n\
                 subjectAltName = DNS:localhost,IP:127.0.0.1\n\
                 crlDistributionPoints = URI:{base}/ca.crl\n\
                 [ none ]\nextendedKeyUsage = clientAuth,serverAuth\n"
            ),
        )
        .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let ocsp_requests = Arc::new(AtomicUsize::new(0));
        let crl_requests = Arc::new(AtomicUsize::new(0));
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the CA's HTTP port");
        listener.set_nonblocking(true).unwrap();
        let thread = {
            let (dir, stop) = (dir.clone(), stop.clone());
            let (oc, cc) = (ocsp_requests.clone(), crl_requests.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((s, _)) => serve(s, &dir, &oc, &cc),
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        RevokingCa {
            dir,
            port,
            stop,
            ocsp_requests,
            crl_requests,
            thread: Some(thread),
        }
    }

    /// Issue `<name>.pem` / `<name>.key` for `subj` with the extensions section
    /// `ext` of ca.cnf: `crl_only`, `ocsp_only`, `none`, or `crl_server` (a quorum
    /// peer's: for localhost and 127.0.0.1, with a CRL distribution point).
    pub fn issue(&self, name: &str, subj: &str, ext: &str) {
        let d = &self.dir;
        run(
            d,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                subj,
            ],
        );
        run(
            d,
            &[
                "ca",
                "-batch",
                "-config",
                "ca.cnf",
                "-notext",
                "-extensions",
                ext,
                "-in",
                &format!("{name}.csr"),
                "-out",
                &format!("{name}.pem"),
            ],
        );
    }

    /// Revoke `<name>.pem` (key compromise) and publish a new CRL (`ca.crl`, DER).
    pub fn revoke(&self, name: &str) {
        run(
            &self.dir,
            &[
                "ca",
                "-config",
                "ca.cnf",
                "-revoke",
                &format!("{name}.pem"),
                "-crl_reason",
                "keyCompromise",
            ],
        );
        self.publish_crl();
    }

    /// Write the CRL of what is revoked now to `ca.crl` (DER).
    pub fn publish_crl(&self) {
        run(
            &self.dir,
            &["ca", "-config", "ca.cnf", "-gencrl", "-out", "ca-crl.pem"],
        );
        run(
            &self.dir,
            &[
                "crl",
                "-in",
                "ca-crl.pem",
                "-outform",
                "DER",
                "-out",
                "ca.crl",
            ],
        );
    }
}

impl Drop for RevokingCa {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One HTTP/1.x request: `GET /ca.crl` or `POST /ocsp`; the connection is closed after
/// the answer.
fn serve(mut s: TcpStream, dir: &Path, ocsp: &AtomicUsize, crl: &AtomicUsize) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head_end, content_length) = loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (i + 4, len);
        }
        if buf.len() > 1 << 20 {
            return;
        }
    };
    while buf.len() < head_end + content_length {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let line = head.lines().next().unwrap_or("");
    let (status, body, ty) = if line.starts_with("GET /ca.crl") {
        crl.fetch_add(1, Ordering::Relaxed);
        match std::fs::read(dir.join("ca.crl")) {
            Ok(b) => ("200 OK", b, "application/pkix-crl"),
            Err(_) => ("404 Not Found", Vec::new(), "text/plain"),
        }
    } else if line.starts_with("POST /ocsp") || line.starts_with("GET /ocsp/") {
        // Java asks a short request by GET, base64 and URL-encoded in the path (RFC 6960 A.1).
        let der = if line.starts_with("GET") {
            let enc = line["GET /ocsp/".len()..]
                .split_whitespace()
                .next()
                .unwrap_or("");
            base64_decode(&url_decode(enc))
        } else {
            buf[head_end..head_end + content_length].to_vec()
        };
        let n = ocsp.fetch_add(1, Ordering::Relaxed) + 1;
        let req = format!("ocsp-req-{n}.der");
        let resp = format!("ocsp-resp-{n}.der");
        std::fs::write(dir.join(&req), der).unwrap();
        let out = crate::run_with_timeout(
            Command::new("openssl")
                .args([
                    "ocsp",
                    "-index",
                    "index.txt",
                    "-CA",
                    "ca.pem",
                    "-rsigner",
                    "ca.pem",
                    "-rkey",
                    "ca.key",
                    "-ndays",
                    "1",
                    "-reqin",
                    &req,
                    "-respout",
                    &resp,
                ])
                .current_dir(dir),
            Duration::from_secs(30),
        );
        match std::fs::read(dir.join(&resp)) {
            Ok(b) if out.status.success() => ("200 OK", b, "application/ocsp-response"),
            _ => ("500 Internal Server Error", Vec::new(), "text/plain"),
        }
    } else {
        ("404 Not Found", Vec::new(), "text/plain")
    };
    let mut r = format!(
        "HTTP/1.0 {status}\r\nContent-Type: {ty}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(&body);
    let _ = s.write_all(&r);
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter_map(val) {
        acc = (acc << 6) | c;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
