// Curator's EnsembleTracker (on by default) watching an ensemble's /zookeeper/config:
// prints one JSON line each time the configuration Curator holds or the connection string it
// uses changes, until the file args[1] exists or args[2] seconds have passed.
//
//   java -cp <curator, zookeeper, guava, slf4j jars>:<dir> CuratorEnsemble HOSTS STOPFILE SECONDS
//
// Compiled by the test that runs it (tests/tests/ensemble_curator.rs).

import java.io.File;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryNTimes;
import org.apache.zookeeper.server.quorum.flexible.QuorumVerifier;

public class CuratorEnsemble {
    public static void main(String[] args) throws Exception {
        String hosts = args[0];
        File stop = new File(args[1]);
        long until = System.currentTimeMillis() + Long.parseLong(args[2]) * 1000;
        CuratorFramework c = CuratorFrameworkFactory.builder()
                .connectString(hosts)
                .retryPolicy(new RetryNTimes(1000, 100))
                .sessionTimeoutMs(20000)
                .connectionTimeoutMs(5000)
                .ensembleTracker(true)
                .build();
        c.start();
        if (!c.blockUntilConnected(60, TimeUnit.SECONDS)) {
            System.out.println("{\"error\":\"not connected\"}");
            System.exit(1);
        }
        System.out.println("{\"connected\":true}");
        System.out.flush();
        String last = null;
        while (!stop.exists() && System.currentTimeMillis() < until) {
            QuorumVerifier qv = c.getCurrentConfig();
            String conn = c.getZookeeperClient().getCurrentConnectionString();
            TreeSet<Long> voters = new TreeSet<>(qv.getVotingMembers().keySet());
            String line = String.format("{\"version\":\"%x\",\"voters\":\"%s\",\"connect\":\"%s\"}",
                    qv.getVersion(), voters, conn);
            if (!line.equals(last)) {
                System.out.println(line);
                System.out.flush();
                last = line;
            }
            Thread.sleep(50);
        }
        c.close();
    }
}
