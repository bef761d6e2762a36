//! A certificate's subject as Java's `X500Principal.getName()` prints it (RFC 2253
//! form), the id ZooKeeper's X509AuthenticationProvider gives a client: `x509:<DN>`.
//! ACLs name that exact text, so it must match Java character for character:
//!
//! - RDNs in reverse order of the certificate's sequence, joined by `,`; the values
//!   of a multi-valued RDN joined by `+`, in their encoded order;
//! - keywords only for CN, C, L, ST, O, OU, STREET, DC, UID; any other attribute
//!   (emailAddress, serialNumber, ...) as its dotted OID;
//! - a value with a dotted OID, or not a directory string (UTF8, Printable, T61,
//!   IA5, General, BMP), is `#` and the hex of its DER encoding;
//! - otherwise the string, with each of `,=+<>#;"\` preceded by `\`, NUL as `\00`,
//!   and leading and trailing spaces (and CRs) preceded by `\`.

use x509_parser::der_parser::asn1_rs::Class;
use x509_parser::prelude::*;

/// The RFC 2253 keywords Java prints, by OID.
const KEYWORDS: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.9", "STREET"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("0.9.2342.19200300.100.1.1", "UID"),
];

/// The subject of a DER certificate as `X500Principal.getName()`.
pub fn subject_rfc2253(cert_der: &[u8]) -> Result<String, String> {
    let (_, cert) =
        X509Certificate::from_der(cert_der).map_err(|e| format!("bad certificate: {e}"))?;
    // An attribute type that is not an OBJECT IDENTIFIER of at least two arcs (empty, or
    // one arc) has no RFC 2253 form: it would print as `=value` or `0=value`, a DN nothing
    // accepts back. Java's ObjectIdentifier refuses to decode such an OID.
    let well_formed = |oid: &str| {
        oid.split('.').count() >= 2
            && oid
                .split('.')
                .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    if cert
        .subject()
        .iter_attributes()
        .any(|a| !well_formed(&a.attr_type().to_id_string()))
    {
        return Err("bad certificate: a malformed attribute type in the subject".into());
    }
    // A value whose tag is in DER's high-tag-number form (tag 31 and up): Java's DerValue
    // reads a tag of one byte, so Java refuses the certificate, and `is_valid_x500_name`
    // would refuse the `#hex` id it prints as.
    if cert
        .subject()
        .iter_attributes()
        .any(|a| a.attr_value().header.tag().0 >= 31)
    {
        return Err("bad certificate: a subject value with a multi-byte DER tag".into());
    }
    Ok(name_rfc2253(cert.subject()))
}

fn name_rfc2253(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| rdn.iter().map(ava_rfc2253).collect::<Vec<_>>().join("+"))
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

fn der_len(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend(&bytes[skip..]);
    }
}

fn ava_rfc2253(ava: &AttributeTypeAndValue<'_>) -> String {
    let oid = ava.attr_type().to_id_string();
    let keyword = KEYWORDS.iter().find(|(o, _)| *o == oid).map(|(_, k)| *k);
    let value = ava.attr_value();
    let hdr = &value.header;
    let text = match hdr.tag().0 {
        12 => std::str::from_utf8(value.data).ok().map(str::to_owned),
        19 | 22 | 27 => Some(value.data.iter().map(|&b| (b & 0x7f) as char).collect()),
        // T61String: Java reads it as ISO-8859-1.
        20 => Some(value.data.iter().map(|&b| b as char).collect()),
        30 if value.data.len() % 2 == 0 => {
            let units: Vec<u16> = value
                .data
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    };
    match (
        keyword,
        text,
        hdr.class() == Class::Universal && !hdr.is_constructed(),
    ) {
        (Some(k), Some(t), true) => format!("{k}={}", escape(&t)),
        _ => {
            // The DER encoding of the value, tag and length included.
            let mut der = Vec::new();
            let class_bits = (hdr.class() as u8) << 6;
            let cons = if hdr.is_constructed() { 0x20 } else { 0 };
            // One-byte tags only: subject_rfc2253 refuses the others.
            der.push(class_bits | cons | hdr.tag().0 as u8);
            der_len(value.data.len(), &mut der);
            der.extend(value.data);
            let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
            format!("{}=#{hex}", keyword.unwrap_or(&oid))
        }
    }
}

/// Java's AVA.toRFC2253String escaping of a string value.
fn escape(value: &str) -> String {
    const ESCAPEES: &str = ",=+<>#;\"\\";
    let mut chars: Vec<String> = Vec::new();
    for c in value.chars() {
        if ESCAPEES.contains(c) {
            chars.push(format!("\\{c}"));
        } else if c == '\0' {
            chars.push("\\00".into());
        } else {
            chars.push(c.to_string());
        }
    }
    let blank = |s: &String| s == " " || s == "\r";
    let lead = chars.iter().take_while(|s| blank(s)).count();
    let trail = chars.iter().rev().take_while(|s| blank(s)).count();
    let n = chars.len();
    let mut out = String::new();
    for (i, s) in chars.into_iter().enumerate() {
        if i < lead || i >= n - trail {
            out.push('\\');
        }
        out.push_str(&s);
    }
    out
}

/// Whether `id` would be accepted by `new X500Principal(id)`: RFC 2253 or RFC 1779
/// `keyword=value` pairs separated by `,` `;` or `+` (the empty name too), each
/// keyword one Java knows, a dotted OID, or `OID.` and a dotted OID.
pub fn is_valid_x500_name(id: &str) -> bool {
    const JAVA_KEYWORDS: &[&str] = &[
        "CN",
        "C",
        "L",
        "S",
        "ST",
        "O",
        "OU",
        "T",
        "IP",
        "STREET",
        "DC",
        "DNQUALIFIER",
        "DNQ",
        "SURNAME",
        "GIVENNAME",
        "INITIALS",
        "GENERATION",
        "EMAIL",
        "EMAILADDRESS",
        "UID",
        "SERIALNUMBER",
    ];
    if id.trim().is_empty() {
        return true;
    }
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = id.chars();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                cur.push(c);
                match chars.next() {
                    Some(n) => cur.push(n),
                    None => return false,
                }
            }
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' | ';' | '+' if !quoted => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if quoted {
        return false;
    }
    parts.push(cur);
    parts.iter().all(|p| {
        let Some((k, v)) = p.split_once('=') else {
            return false;
        };
        if let Some(hex) = v.trim().strip_prefix('#') {
            if !is_one_der_value(hex) {
                return false;
            }
        }
        let k = k.trim();
        let k = k
            .strip_prefix("OID.")
            .or_else(|| k.strip_prefix("oid."))
            .unwrap_or(k);
        let dotted = !k.is_empty()
            && k.split('.').count() >= 2
            && k.split('.')
                .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        dotted || JAVA_KEYWORDS.contains(&k.to_ascii_uppercase().as_str())
    })
}

/// Whether `hex` is the hex of exactly one DER value (as Java decodes `#...`).
fn is_one_der_value(hex: &str) -> bool {
    // Hex digits only before slicing it in pairs: a multi-byte character there has no
    // char boundary in the middle of a pair (and `from_str_radix` would take a sign).
    if hex.is_empty() || !hex.len().is_multiple_of(2) || !hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return false;
    }
    let Ok(bytes) = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
    else {
        return false;
    };
    if bytes.len() < 2 {
        return false;
    }
    let first = bytes[1] as usize;
    let (len, start) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 || bytes.len() < 2 + n {
            return false;
        }
        (
            bytes[2..2 + n]
                .iter()
                .fold(0usize, |a, b| (a << 8) | *b as usize),
            2 + n,
        )
    };
    bytes.len() - start == len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_as_java_does() {
        assert_eq!(escape("a,b"), "a\\,b");
        assert_eq!(escape(" lead and trail "), "\\ lead and trail\\ ");
        assert_eq!(escape("#x=y+z"), "\\#x\\=y\\+z");
        assert_eq!(escape("q\"<>;\\"), "q\\\"\\<\\>\\;\\\\");
        assert_eq!(escape("plain-name_1@x"), "plain-name_1@x");
    }

    #[test]
    fn x500_names_as_java_accepts_them() {
        assert!(is_valid_x500_name("CN=client,O=Example"));
        assert!(is_valid_x500_name("CN=a\\,b, OU=x+UID=1"));
        assert!(is_valid_x500_name("1.2.840.113549.1.9.1=#160161,CN=x"));
        // The length says 2, one byte follows: X500Principal refuses it.
        assert!(!is_valid_x500_name("1.2.840.113549.1.9.1=#160261,CN=x"));
        assert!(is_valid_x500_name("EMAILADDRESS=a@b"));
        assert!(is_valid_x500_name(""));
        assert!(!is_valid_x500_name("client"));
        assert!(!is_valid_x500_name("FOO=bar"));
    }

    /// Found by the jks_store fuzz target: a `#` value with a multi-byte character at an
    /// odd byte offset was sliced inside the character and panicked. This is also the
    /// check of an `x509` ACL id a client sends with setACL or create.
    #[test]
    fn fuzz_jks_store_non_hex_after_hash_is_refused_without_a_panic() {
        assert!(!is_valid_x500_name("CN=#\u{FFFD}0"));
        assert!(!is_valid_x500_name("CN=#1\u{e9}2"));
        assert!(!is_valid_x500_name("1.2.840.113549.1.9.1=#+60161"));
        assert!(is_valid_x500_name("1.2.840.113549.1.9.1=#160161"));
    }

    /// Found by the jks_store fuzz target: a certificate whose subject has an attribute with
    /// an empty OBJECT IDENTIFIER was printed as `=#0000,CN=...`, which `is_valid_x500_name`
    /// (rightly) refuses: a client's x509 id that no ACL can name. Now refused as a bad
    /// certificate. The input is the fuzzer's (its first byte is the target's mode byte).
    #[test]
    fn fuzz_jks_store_empty_attribute_type_is_a_bad_certificate() {
        let input = include_bytes!("../../../fuzz/seeds/jks_store/regression-dn-empty-oid");
        let r = subject_rfc2253(&input[1..]);
        assert!(r.is_err(), "{r:?}");
        // The third finding: an OID of one arc, printed as `0=#0000`.
        let input = include_bytes!("../../../fuzz/seeds/jks_store/regression-dn-one-arc-oid");
        let r = subject_rfc2253(&input[1..]);
        assert!(r.is_err(), "{r:?}");
    }

    /// The fourth jks_store finding: a subject value whose DER tag is in the high-tag-number
    /// form (here private class, tag 127: `df 7f`) was printed as `CN=#df7f03...`, which
    /// `is_valid_x500_name` refuses. Java's DerValue reads a tag of one byte only, so Java
    /// refuses such a certificate; so do we. The input is openssl's self-signed `CN=seed`
    /// with the subject's value patched to that form (the issuer's is left as it was).
    #[test]
    fn fuzz_jks_store_high_tag_number_value_is_a_bad_certificate() {
        let input = include_bytes!("../../../fuzz/seeds/jks_store/regression-dn-high-tag");
        let r = subject_rfc2253(&input[1..]);
        assert!(r.is_err(), "{r:?}");
        assert!(!is_valid_x500_name("CN=#df7f03736565"));
    }
}
