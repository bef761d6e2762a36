"""A raw ZooKeeper client running the SASL GSSAPI exchange itself (pykerberos for the
GSS-API side), to send what kazoo never sends: after the context, a non-empty token where
the empty one is expected, or a choice of a security layer the server did not offer. One
line per reply; run by tests/tests/kerberos.rs against Apache ZooKeeper and our server and
compared. The client's ticket is in the credential cache KRB5CCNAME names.

  gssapi_raw.py --port PORT --principal alice@ZK.TEST --mode ok|nonempty|layer4|layer0
"""

import argparse
import base64
import socket
import struct

import kerberos


def frame(payload):
    return struct.pack(">i", len(payload)) + payload


def read_frame(sock):
    def exact(n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    head = exact(4)
    if head is None:
        return None
    (n,) = struct.unpack(">i", head)
    return exact(n)


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    req = struct.pack(">iqiqi", 0, 0, 10000, 0, 16) + b"\0" * 16 + b"\0"
    s.sendall(frame(req))
    if read_frame(s) is None:
        raise SystemExit("no connect response")
    return s


def sasl(s, xid, token):
    """Sends one sasl request; returns "err E token N" (N: the token's length, -1 null)
    and the token, or "closed" and None."""
    s.sendall(frame(struct.pack(">ii", xid, 102) + struct.pack(">i", len(token)) + token))
    r = read_frame(s)
    if r is None:
        return "closed", None
    rxid, _zxid, err = struct.unpack(">iqi", r[:16])
    body = r[16:]
    if len(body) < 4:
        return "xid %d err %d no body" % (rxid, err), None
    (n,) = struct.unpack(">i", body[:4])
    tok = body[4:4 + n] if n >= 0 else None
    return "xid %d err %d token %d" % (rxid, err, n), tok


def b64(b):
    return base64.b64encode(b).decode("ascii")


def closed(s):
    s.settimeout(10)
    try:
        return s.recv(1) == b""
    except OSError:
        return True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--principal", required=True)
    p.add_argument("--mode", required=True)
    a = p.parse_args()

    _, ctx = kerberos.authGSSClientInit(service="zookeeper@localhost", principal=a.principal)
    kerberos.authGSSClientStep(ctx, "")
    first = base64.b64decode(kerberos.authGSSClientResponse(ctx))
    s = connect(a.port)
    line, tok = sasl(s, 1, first)
    # The AP-REP's length differs between Java's GSS-API and MIT's (108 and 156 bytes
    # here): only whether there is one is compared.
    if tok:
        line = line.rsplit(" ", 1)[0] + " (an AP-REP)"
    print("context:", line, flush=True)
    if tok is None:
        return
    kerberos.authGSSClientStep(ctx, b64(tok))
    line, offer = sasl(s, 2, b"x" if a.mode == "nonempty" else b"")
    print("after the context:", line, flush=True)
    if offer is None:
        print("closed:", closed(s), flush=True)
        return
    kerberos.authGSSClientUnwrap(ctx, b64(offer))
    plain = base64.b64decode(kerberos.authGSSClientResponse(ctx))
    print("offer:", plain.hex(), flush=True)
    layer = {"ok": 1, "layer4": 4, "layer0": 0}[a.mode]
    kerberos.authGSSClientWrap(ctx, b64(bytes([layer, 0, 0, 0])))
    choice = base64.b64decode(kerberos.authGSSClientResponse(ctx))
    line, _ = sasl(s, 3, choice)
    print("choice:", line, flush=True)
    if a.mode == "ok":
        # whoAmI (op 107): the ids the exchange gave this connection.
        s.sendall(frame(struct.pack(">ii", 4, 107)))
        r = read_frame(s)
        body, ids = r[16:], []
        (count,) = struct.unpack(">i", body[:4])
        off = 4
        for _ in range(count):
            pair = []
            for _ in range(2):
                (n,) = struct.unpack(">i", body[off:off + 4])
                pair.append(body[off + 4:off + 4 + n].decode())
                off += 4 + n
            ids.append(":".join(pair))
        print("whoami:", " ".join(ids), flush=True)
    else:
        print("closed:", closed(s), flush=True)


if __name__ == "__main__":
    main()
