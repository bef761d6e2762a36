//! Seeds of `sasl_digest`: JAAS files (control byte 0), digest-responses as
//! puresasl and Java's client write them (1 and 2), and edge cases.

use std::path::Path;

use crate::Seeds;

const JAAS: &[&str] = &[
    "Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  user_super=\"adminsecret\"\n  user_bob=\"bobsecret\";\n};\n",
    "// comment\nClient { org.apache.zookeeper.server.auth.DigestLoginModule required username=\"bob\" password='b\\'s'; };\n/* two */ Server { a.B optional; c.D Sufficient x=y; };\n",
    "Server {\n a.B requird;\n};\n",
    "Server { a.B required x=\"unterminated; };",
];

const RESPONSES: &[&[u8]] = &[
    b"username=\"bob\",realm=\"zk-sasl-md5\",qop=auth,nonce=\"FtISg0bvpTLe2/KhInF8/ZSChbFKADIz+nauYzYG\",cnonce=\"8123571953\",nc=00000001,digest-uri=\"zookeeper/zk-sasl-md5\",response=7c31a1e5d2f8b0c3a1e5d2f8b0c3a1e5",
    b"charset=utf-8,username=\"bob\",realm=\"zk-sasl-md5\",nonce=\"n\",nc=00000001,cnonce=\"c\",digest-uri=\"zookeeper/zk-sasl-md5\",maxbuf=65536,response=00000000000000000000000000000000,qop=auth,authzid=\"admin\"",
    b" Username = \"a\\\"b\" ,, realm=r\t,x=1",
    b"username=a,username=b",
    b"username=\"a",
    b"=a",
    b"",
];

pub fn sasl_seeds(root: &Path) {
    let mut s = Seeds::new(root, "sasl_digest");
    for (i, j) in JAAS.iter().enumerate() {
        s.with(&format!("jaas-{i}"), &[0], j.as_bytes());
    }
    for (i, r) in RESPONSES.iter().enumerate() {
        s.with(&format!("directives-{i}"), &[1], r);
        s.with(&format!("exchange-{i}"), &[2], r);
    }
}
