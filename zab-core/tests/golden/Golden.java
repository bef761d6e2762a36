// Prints the golden bytes of zab-core/tests/wire_golden.rs with Apache ZooKeeper's own
// serializers. It sits in ZooKeeper's package because Leader's packet type constants are
// package-private. Run (Debian's zookeeper package, 3.8.0):
//
//   CP=/usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:/usr/share/java/slf4j-api.jar:/usr/share/java/slf4j-nop.jar
//   mkdir -p /tmp/g && javac -d /tmp/g -cp $CP zab-core/tests/golden/Golden.java
//   java -cp $CP:/tmp/g org.apache.zookeeper.server.quorum.Golden
package org.apache.zookeeper.server.quorum;
import java.io.*;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.util.*;
import org.apache.jute.BinaryOutputArchive;
import org.apache.jute.Record;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.server.persistence.Util;
import org.apache.zookeeper.server.quorum.*;
import org.apache.zookeeper.server.util.ZxidUtils;
import org.apache.zookeeper.txn.*;

public class Golden {
    static String hex(byte[] b) {
        StringBuilder s = new StringBuilder();
        for (byte x : b) s.append(String.format("%02x", x));
        return s.toString();
    }
    static byte[] rec(Record r, String tag) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        BinaryOutputArchive.getArchive(bos).writeRecord(r, tag);
        return bos.toByteArray();
    }
    static void out(String name, byte[] b) { System.out.println(name + " " + hex(b)); }

    public static void main(String[] a) throws Exception {
        // Learner.registerWithLeader: FOLLOWERINFO with LearnerInfo(sid, 0x10000, qv version)
        byte[] li = rec(new LearnerInfo(2, 0x10000, 0x100000000L), "LearnerInfo");
        out("followerinfo", rec(new QuorumPacket(Leader.FOLLOWERINFO, ZxidUtils.makeZxid(3, 0), li, null), "packet"));
        // Learner.registerWithLeader: ACKEPOCH carries int(currentEpoch), or -1 when the epoch was accepted already
        byte[] ep = new byte[4];
        ByteBuffer.wrap(ep).putInt(2);
        out("ackepoch", rec(new QuorumPacket(Leader.ACKEPOCH, 0x200000005L, ep, null), "packet"));
        byte[] em = new byte[4];
        ByteBuffer.wrap(em).putInt(-1);
        out("ackepoch_accepted", rec(new QuorumPacket(Leader.ACKEPOCH, 0x200000005L, em, null), "packet"));
        // LearnerHandler: NEWLEADER carries the quorum verifier's text
        byte[] qv = "server.1=127.0.0.1:2888:3888:participant\nversion=100000000".getBytes("UTF-8");
        out("newleader", rec(new QuorumPacket(Leader.NEWLEADER, ZxidUtils.makeZxid(4, 0), qv, null), "packet"));
        // Leader.propose: PROPOSAL carries Util.marshallTxnEntry(hdr, txn, digest)
        TxnHeader hdr = new TxnHeader(0x1000001234L, 7, 0x400000001L, 1700000000123L, 1 /* create */);
        List<ACL> acl = Collections.singletonList(new ACL(31, new Id("world", "anyone")));
        CreateTxn ct = new CreateTxn("/app", "hello".getBytes("UTF-8"), acl, false, 1);
        TxnDigest dg = new TxnDigest(2, 0x123456789abcdefL);
        byte[] txn = Util.marshallTxnEntry(hdr, ct, dg);
        out("txn", txn);
        out("proposal", rec(new QuorumPacket(Leader.PROPOSAL, 0x400000001L, txn, null), "packet"));
        // Leader.sendSync and the learner's forwarded REQUEST (authinfo is the session's list)
        out("sync", rec(new QuorumPacket(Leader.SYNC, 0, null, null), "packet"));
        out("uptodate", rec(new QuorumPacket(Leader.UPTODATE, -1, null, null), "packet"));
        List<Id> auth = new ArrayList<>();
        out("request_empty_auth", rec(new QuorumPacket(Leader.REQUEST, -1, new byte[] {1, 2}, auth), "packet"));
        // FastLeaderElection.buildMsg: version 1 (40 bytes) and the current version 2
        Method m1 = FastLeaderElection.class.getDeclaredMethod("buildMsg", int.class, long.class, long.class, long.class, long.class);
        m1.setAccessible(true);
        ByteBuffer v1 = (ByteBuffer) m1.invoke(null, 1 /* FOLLOWING */, 3L, 0x100000002L, 7L, 1L);
        out("notification_v1", v1.array());
        Method m2 = FastLeaderElection.class.getDeclaredMethod("buildMsg", int.class, long.class, long.class, long.class, long.class, byte[].class);
        m2.setAccessible(true);
        ByteBuffer v2 = (ByteBuffer) m2.invoke(null, 0 /* LOOKING */, 3L, 0x100000002L, 7L, 1L, "v=1".getBytes("UTF-8"));
        out("notification_v2", v2.array());
    }
}
