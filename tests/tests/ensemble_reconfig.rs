//! Dynamic reconfiguration (issue 14) with real processes and real clients: kazoo's
//! `client.reconfig(joining=, leaving=, new_members=, from_config=)` against a 3-server
//! ensemble of ours, and the same steps against Apache ZooKeeper 3.8 as the oracle (the
//! answers, error for error, and the membership each reconfig leaves in
//! `/zookeeper/config`). After each reconfig every running member shows the new membership,
//! writes go on with the new quorum, a server added by reconfig serves, and a restart of
//! the whole ensemble comes back with the last membership from each server's own files.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use zk_tests::ensemble::{Ensemble, Spec};
use zk_tests::Kind;

mod cli_support;

use zk_tests::reconfig_tool::{reconfig, run as tool};

fn config(hosts: &str) -> String {
    tool(&["config", "--hosts", hosts])["data"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The server ids a membership text lists, with their kind.
fn members(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("server."))
        .map(|l| {
            let (id, rest) = l.split_once('=').unwrap();
            let kind = rest.split(';').next().unwrap().rsplit(':').next().unwrap();
            format!("{id}:{kind}")
        })
        .collect()
}

fn version(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("version="))
        .unwrap()
        .to_string()
}

/// Every running server in `ids` shows `want` in /zookeeper/config (learners apply the
/// commit a moment after the leader answers).
fn all_show(ens: &Ensemble, ids: &[u64], want: &str) {
    for id in ids {
        let hosts = ens.member(*id).hosts();
        let ok = zk_tests::wait_until(Duration::from_secs(20), || config(&hosts) == want);
        assert!(ok, "server {id} shows {:?}, not {want:?}", config(&hosts));
    }
}

fn spec(kind: Kind) -> Spec {
    let mut spec = Spec::new(3, 0)
        .ticks(500, 10, 5)
        .extra("reconfigEnabled", "true")
        .extra("skipACL", "yes");
    spec.kind = kind;
    spec
}

/// The steps, on either implementation; what each answered, for comparison.
fn remove_add_join_restart(kind: Kind) -> Vec<String> {
    let name = kind.name();
    let mut ens = Ensemble::new(spec(kind));
    ens.start_all();
    let leader = ens.wait_serving(&[1, 2, 3], Duration::from_secs(60));
    let hosts = ens.member(leader).hosts();
    let mut seen = Vec::new();

    // Remove server 3 (incremental). The answer is the new configuration.
    let r = reconfig(&hosts, &["--leaving", "3"]);
    assert_eq!(r["ok"], true, "{name}: {r}");
    let text = r["data"].as_str().unwrap().to_string();
    assert_eq!(members(&text), ["1:participant", "2:participant"], "{name}");
    seen.push(format!(
        "remove 3: {:?} version {}",
        members(&text),
        r["version"]
    ));
    all_show(&ens, &[1, 2, 3], &text);
    assert_eq!(
        zk_tests::kazoo::try_write(&ens.member(1).hosts(), "/after-remove"),
        Ok(()),
        "{name}"
    );
    // The quorum is two of 1 and 2 now: without the other one, 3 (still running, no
    // longer voting) does not make one, and nothing is written.
    let other = if leader == 1 { 2 } else { 1 };
    ens.kill(other);
    assert!(
        zk_tests::kazoo::try_write(&ens.member(leader).hosts(), "/without-quorum").is_err(),
        "{name}: a write without a quorum of the new voters"
    );
    ens.start(other);
    let leader = ens.wait_serving(&[1, 2], Duration::from_secs(60));
    let hosts = ens.member(leader).hosts();
    seen.push(format!("without {other}: no quorum"));
    // Server 3 serves its clients on, as a follower without a vote.
    zk_tests::wait_until(Duration::from_secs(30), || ens.mode(3).is_some());
    seen.push(format!("3 after its removal: {:?}", ens.mode(3)));

    // A stale version is refused; the current one is accepted.
    let stale = reconfig(&hosts, &["--leaving", "2", "--from-config", "1"]);
    assert_eq!(stale["ok"], false, "{name}");
    seen.push(format!("stale version: {}", stale["error"]));
    let v = i64::from_str_radix(&version(&text), 16).unwrap();
    let r = reconfig(
        &hosts,
        &["--joining", &ens.joiner(3), "--from-config", &v.to_string()],
    );
    assert_eq!(r["ok"], true, "{name}: {r}");
    let text = r["data"].as_str().unwrap().to_string();
    assert_eq!(
        members(&text),
        ["1:participant", "2:participant", "3:participant"],
        "{name}"
    );
    seen.push(format!("add 3: {:?}", members(&text)));
    all_show(&ens, &[1, 2, 3], &text);

    // A client writes through 1 and 2 from here to the last reconfig.
    let writer = zk_tests::kazoo::Writer::start(
        &format!("{},{}", ens.member(1).hosts(), ens.member(2).hosts()),
        12.0,
        "/w",
    );

    // Voters that are not up: NewConfigNoQuorum, nothing changes.
    ens.add_member(5);
    let r = reconfig(
        &hosts,
        &[
            "--members",
            &format!("{},{}", ens.joiner(5), ens.joiner(leader)),
        ],
    );
    seen.push(format!("absent voters: {}", r["error"]));
    assert_eq!(r["error"], "NewConfigNoQuorumError", "{name}: {r}");

    // A new server 4 starts with the membership plus itself and is added: 4 voters.
    ens.add_member(4);
    ens.start(4);
    zk_tests::wait_until(Duration::from_secs(60), || ens.mode(4).is_some());
    let r = reconfig(&hosts, &["--joining", &ens.joiner(4)]);
    assert_eq!(r["ok"], true, "{name}: {r}");
    let text = r["data"].as_str().unwrap().to_string();
    assert_eq!(members(&text).len(), 4, "{name}: {text}");
    seen.push(format!("add 4: {:?}", members(&text)));
    all_show(&ens, &[1, 2, 3, 4], &text);
    assert_eq!(
        zk_tests::kazoo::try_write(&ens.member(4).hosts(), "/via-4"),
        Ok(()),
        "{name}"
    );

    // Non-incremental back to 1, 2, 4; then the whole ensemble restarts from its files.
    let r = reconfig(
        &hosts,
        &[
            "--members",
            &format!("{},{},{}", ens.joiner(1), ens.joiner(2), ens.joiner(4)),
        ],
    );
    assert_eq!(r["ok"], true, "{name}: {r}");
    let text = r["data"].as_str().unwrap().to_string();
    seen.push(format!("members 1,2,4: {:?}", members(&text)));
    all_show(&ens, &[1, 2, 4], &text);
    // `conf` shows the membership in force.
    for id in [1, 2, 4] {
        let conf = ens.four(id, "conf").unwrap();
        assert!(conf.contains(&text), "{name} {id}: {conf}");
    }
    let lines = writer.finish(Duration::from_secs(60));
    let acked: Vec<u64> = lines.iter().filter_map(|v| v["ack"].as_u64()).collect();
    assert!(
        !acked.is_empty(),
        "{name}: the writer got nothing acknowledged"
    );
    // Each server wrote the configuration where a restart reads it.
    let file = format!("zoo.cfg.dynamic.{}", version(&text));
    for id in [1, 2, 4] {
        let dir = &ens.member(id).dir;
        let cfg = std::fs::read_to_string(dir.join("zoo.cfg")).unwrap();
        assert!(cfg.contains("dynamicConfigFile="), "{name} {id}: {cfg}");
        assert!(cfg.trim_end().ends_with(&file), "{name} {id}: {cfg}");
        let dynamic = std::fs::read_to_string(dir.join(&file)).unwrap();
        assert_eq!(dynamic.lines().count(), 3, "{name} {id}: {dynamic}");
    }
    for id in [1, 2, 3, 4] {
        ens.kill(id);
    }
    for id in [1, 2, 4] {
        ens.start(id);
    }
    ens.wait_serving(&[1, 2, 4], Duration::from_secs(60));
    all_show(&ens, &[1, 2, 4], &text);
    for id in [1, 2, 4] {
        let hosts = ens.member(id).hosts();
        assert!(
            zk_tests::kazoo::children(&hosts, "/").contains(&"via-4".to_string()),
            "{name}: server {id} lost /via-4"
        );
        ens.assert_all_present(id, "/w", &acked);
    }
    seen
}

#[test]
fn kazoo_reconfig_matches_apache() {
    let apache = remove_add_join_restart(Kind::Apache);
    let ours = remove_add_join_restart(Kind::Ours);
    assert_eq!(ours, apache);
}

/// Without `reconfigEnabled` (Apache 3.5.3+'s default) reconfig is refused as Apache
/// refuses it.
#[test]
fn reconfig_is_disabled_by_default_as_in_apache() {
    let mut answers = Vec::new();
    for kind in [Kind::Apache, Kind::Ours] {
        let mut spec = Spec::new(3, 0).ticks(500, 10, 5);
        spec.kind = kind;
        let mut ens = Ensemble::new(spec);
        ens.start_all();
        let leader = ens.wait_serving(&[1, 2, 3], Duration::from_secs(60));
        let r = reconfig(&ens.member(leader).hosts(), &["--leaving", "3"]);
        answers.push(r);
    }
    assert_eq!(answers[0]["ok"], false, "{answers:?}");
    assert_eq!(answers[1], answers[0]);
}

/// With reconfig enabled and no `skipACL`, only the super user may reconfigure:
/// `/zookeeper/config` is read-only for everyone else (NoAuth), as in Apache.
#[test]
fn reconfig_needs_the_super_user_as_in_apache() {
    let mut answers = Vec::new();
    for kind in [Kind::Apache, Kind::Ours] {
        let mut spec = Spec::new(3, 0)
            .ticks(500, 10, 5)
            .extra("reconfigEnabled", "true")
            .extra(
                "DigestAuthenticationProvider.superDigest",
                "super:D/InIHSb7yEEbrWz8b9l71RjZJU=",
            );
        spec.kind = kind;
        let mut ens = Ensemble::new(spec);
        ens.start_all();
        let leader = ens.wait_serving(&[1, 2, 3], Duration::from_secs(60));
        let hosts = ens.member(leader).hosts();
        let anyone = reconfig(&hosts, &["--leaving", "3"]);
        let as_super = reconfig(&hosts, &["--leaving", "3", "--auth", "digest:super:test"]);
        answers.push((kind.name(), anyone["error"].clone(), as_super["ok"].clone()));
    }
    assert_eq!(answers[0].1, "NoAuthError", "{answers:?}");
    assert_eq!(answers[0].2, true, "{answers:?}");
    assert_eq!(answers[1].1, answers[0].1, "{answers:?}");
    assert_eq!(answers[1].2, answers[0].2, "{answers:?}");
}

const ZKCLI: &str = "/usr/share/zookeeper/bin/zkCli.sh";

/// Which shell runs the commands.
#[derive(Clone, Copy, PartialEq)]
enum Shell {
    /// Apache's zkCli.sh.
    ZkCli,
    /// Ours, zk-cli.
    ZkRs,
}

/// One `<shell> -server <hosts> <args>` run: stdout and stderr together.
fn zkcli(ens: &Ensemble, shell: Shell, hosts: &str, args: &[&str]) -> String {
    let mut cmd = match shell {
        Shell::ZkCli => Command::new(ZKCLI),
        Shell::ZkRs => Command::new(cli_support::cli_binary()),
    };
    cmd.arg("-server").arg(hosts).args(args);
    cmd.env(
        "CLIENT_JVMFLAGS",
        "-Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
    )
    .env("ZOO_LOG_DIR", ens.dir());
    let out = zk_tests::run_with_timeout(&mut cmd, Duration::from_secs(120));
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    s
}

/// zkCli's output with each member's ports and the configuration versions named,
/// so that two ensembles' outputs compare; only the lines zkCli prints itself.
fn normalized(ens: &Ensemble, out: &str) -> Vec<String> {
    let mut names = Vec::new();
    for id in ens.ids() {
        let m = ens.member(id);
        names.push((m.quorum_port.to_string(), format!("Q{id}")));
        names.push((m.election_port.to_string(), format!("E{id}")));
        names.push((m.client_port.to_string(), format!("C{id}")));
    }
    out.lines()
        .filter(|l| {
            !l.contains("WATCHER")
                && !l.contains("WatchedEvent")
                && !l.starts_with("Connecting to")
                && !l.trim().is_empty()
                && !l.contains(" INFO ")
                && !l.contains(" WARN ")
                && !l.contains("log4j")
                && !l.contains("SLF4J")
        })
        .map(|l| {
            let mut l = l.to_string();
            for (p, n) in &names {
                l = l.replace(p.as_str(), n);
            }
            // Zxids and times differ from run to run.
            if l.starts_with("mZxid") || l.starts_with("mtime") {
                return l.split(" = ").next().unwrap().to_string();
            }
            match l.find("version=") {
                Some(i) => format!("{}version=V", &l[..i]),
                None => l,
            }
        })
        .collect()
}

fn zkcli_steps(kind: Kind, shell: Shell) -> Vec<Vec<String>> {
    let mut ens = Ensemble::new(spec(kind));
    ens.start_all();
    let leader = ens.wait_serving(&[1, 2, 3], Duration::from_secs(60));
    let hosts = ens.member(leader).hosts();
    let mut outs = Vec::new();
    let mut run = |ens: &mut Ensemble, args: &[&str]| {
        // A reconfig's client may see its connection drop while the servers switch
        // (Apache's do at times): a read is retried, a reconfig never.
        let mut out = normalized(ens, &zkcli(ens, shell, &hosts, args));
        for _ in 0..5 {
            if args[0] != "config" || !out.iter().any(|l| l.contains("ConnectionLoss")) {
                break;
            }
            out = normalized(ens, &zkcli(ens, shell, &hosts, args));
        }
        outs.push(out);
        // Removing the leader re-elects (ours; Apache hands over): the next command
        // waits until every server serves again, as a person at the shell would.
        if args[0] == "reconfig" {
            ens.wait_serving(&[1, 2, 3], Duration::from_secs(60));
        }
    };
    run(&mut ens, &["config"]);
    run(&mut ens, &["reconfig", "-remove", "3"]);
    run(&mut ens, &["config"]);
    run(&mut ens, &["reconfig", "-v", "1", "-remove", "2"]);
    let three = ens.joiner(3);
    run(&mut ens, &["reconfig", "-add", &three]);
    let members = format!("{},{},{}", ens.joiner(1), ens.joiner(2), ens.joiner(3));
    run(&mut ens, &["reconfig", "-members", &members]);
    run(&mut ens, &["config", "-s"]);
    outs
}

#[test]
fn zkcli_reconfig_and_config_match_apache() {
    let apache = zkcli_steps(Kind::Apache, Shell::ZkCli);
    let ours = zkcli_steps(Kind::Ours, Shell::ZkCli);
    assert_eq!(ours, apache);
    // Our shell against our servers prints what zkCli.sh printed against Apache's.
    let ours_with_zk_cli = zkcli_steps(Kind::Ours, Shell::ZkRs);
    assert_eq!(ours_with_zk_cli, apache);
}

/// Hierarchical quorums (`group.N` / `weight.N`) set and changed by `reconfig -members`,
/// as Apache's `PrepRequestProcessor` takes them (the new member list is read as a
/// dynamic configuration file, group and weight lines included) and writes them back
/// (`QuorumHierarchical.toString`: server lines, then group lines, then weight lines);
/// an incremental reconfig of a hierarchical view is refused (BadArguments); a restart
/// reads the groups back from each server's dynamic file.
fn zkcli_hierarchical_steps(kind: Kind) -> Vec<Vec<String>> {
    let mut ens = Ensemble::new(spec(kind));
    ens.start_all();
    let leader = ens.wait_serving(&[1, 2, 3], Duration::from_secs(60));
    let hosts = ens.member(leader).hosts();
    let mut outs = Vec::new();
    let servers = format!("{},{},{}", ens.joiner(1), ens.joiner(2), ens.joiner(3));
    let steps: Vec<Vec<String>> = vec![
        // Two groups: {1, 2} and {3}; 3 weighs 2 inside its group.
        vec![
            "reconfig".into(),
            "-members".into(),
            format!("{servers},group.1=1:2,group.2=3,weight.1=1,weight.2=1,weight.3=2"),
        ],
        vec!["config".into()],
        vec!["create".into(), "/h".into(), "x".into()],
        // Incremental on a hierarchical view: refused.
        vec!["reconfig".into(), "-remove".into(), "3".into()],
        // A group naming a server that is not listed: refused.
        vec![
            "reconfig".into(),
            "-members".into(),
            format!("{servers},group.1=1:2,group.2=4"),
        ],
        // Back to a majority view, and an incremental reconfig works again (the same
        // step as zkcli_steps': the leader the client talks to answers it).
        vec!["reconfig".into(), "-members".into(), servers.clone()],
        vec!["reconfig".into(), "-remove".into(), "3".into()],
        vec!["config".into()],
        // Three groups of one, default weights (3 is back as a voter).
        vec![
            "reconfig".into(),
            "-members".into(),
            format!("{servers},group.1=1,group.2=2,group.3=3"),
        ],
        vec!["config".into()],
        // Every server restarts from its own files: the groups come back with them.
        vec!["restart".into()],
        vec!["config".into()],
        vec!["get".into(), "/h".into()],
    ];
    for args in steps {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        if args[0] == "restart" {
            for id in [1, 2, 3] {
                ens.kill(id);
            }
            ens.start_all();
            ens.wait_serving(&[1, 2, 3], Duration::from_secs(60));
            continue;
        }
        let mut out = normalized(&ens, &zkcli(&ens, Shell::ZkCli, &hosts, &args));
        for _ in 0..5 {
            if args[0] == "reconfig" || !out.iter().any(|l| l.contains("ConnectionLoss")) {
                break;
            }
            out = normalized(&ens, &zkcli(&ens, Shell::ZkCli, &hosts, &args));
        }
        if args[0] == "reconfig" {
            ens.wait_serving(&[1, 2, 3], Duration::from_secs(60));
        }
        println!("{}: {args:?} -> {out:?}", kind.name());
        outs.push(out);
    }
    outs
}

#[test]
fn hierarchical_reconfig_matches_apache() {
    let apache = zkcli_hierarchical_steps(Kind::Apache);
    let ours = zkcli_hierarchical_steps(Kind::Ours);
    assert_eq!(ours, apache);
}

/// 3 -> 5 -> 3 while a client writes, on either implementation: a follower that is down
/// during the first reconfig catches up with it when it comes back; the second removes
/// the leader and another server (its answer may be lost, as in Apache: the servers
/// re-elect). No acknowledged write is lost, and the three that remain serve.
fn three_five_three(kind: Kind) {
    let name = kind.name();
    let mut sp = spec(kind);
    if kind == Kind::Ours {
        sp = sp.admin();
    }
    let mut ens = Ensemble::new(sp);
    ens.start_all();
    let leader = ens.wait_serving(&[1, 2, 3], Duration::from_secs(60));
    let followers: Vec<u64> = [1, 2, 3].into_iter().filter(|i| *i != leader).collect();
    let (f, g) = (followers[0], followers[1]);
    ens.add_member(4);
    ens.add_member(5);
    ens.start(4);
    ens.start(5);
    for id in [4, 5] {
        assert!(
            zk_tests::wait_until(Duration::from_secs(60), || ens.mode(id).is_some()),
            "{name}: joiner {id} does not serve"
        );
    }
    let writer = zk_tests::kazoo::Writer::start(&ens.connect_string(), 15.0, "/w");

    // g is down while 4 and 5 join (asked through follower f).
    ens.kill(g);
    let joining = format!("{},{}", ens.joiner(4), ens.joiner(5));
    let r = reconfig(&ens.member(f).hosts(), &["--joining", &joining]);
    assert_eq!(r["ok"], true, "{name}: {r}");
    let five = r["data"].as_str().unwrap().to_string();
    assert_eq!(members(&five).len(), 5, "{name}: {five}");
    ens.start(g);
    all_show(&ens, &[1, 2, 3, 4, 5], &five);

    // Remove the leader and f: g, 4 and 5 remain. Asked through 4.
    let leaving = format!("{leader},{f}");
    let r = reconfig(&ens.member(4).hosts(), &["--leaving", &leaving]);
    let three = if r["ok"] == true {
        r["data"].as_str().unwrap().to_string()
    } else {
        // The answer was lost to the re-election; the configuration tells.
        let hosts = ens.member(4).hosts();
        assert!(
            zk_tests::wait_until(Duration::from_secs(30), || members(&config(&hosts)).len()
                == 3),
            "{name}: {r}, and 4 shows {}",
            config(&hosts)
        );
        config(&hosts)
    };
    let mut ids: Vec<u64> = vec![g, 4, 5];
    ids.sort();
    let want: Vec<String> = ids.iter().map(|i| format!("{i}:participant")).collect();
    assert_eq!(members(&three), want, "{name}");
    ens.wait_serving(&ids, Duration::from_secs(60));
    all_show(&ens, &ids, &three);

    let lines = writer.finish(Duration::from_secs(60));
    let acked: Vec<u64> = lines.iter().filter_map(|v| v["ack"].as_u64()).collect();
    assert!(
        acked.len() > 10,
        "{name}: only {} writes acknowledged",
        acked.len()
    );
    for id in &ids {
        ens.assert_all_present(*id, "/w", &acked);
    }
    if kind == Kind::Ours {
        // The AdminServer's voting_view is the view in force.
        for id in &ids {
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], ens.member(*id).admin_port));
            let (status, body) =
                zk_tests::http_get(addr, "/commands/voting_view", Duration::from_secs(10)).unwrap();
            assert_eq!(status, 200, "{body}");
            let v: Value = serde_json::from_str(&body).unwrap();
            let mut voters: Vec<u64> = v["current_config"]
                .as_object()
                .unwrap_or_else(|| panic!("{body}"))
                .keys()
                .map(|k| k.parse().unwrap())
                .collect();
            voters.sort();
            assert_eq!(voters, ids, "server {id}: {body}");
        }
    }
    // The two removed servers still serve their clients, without a vote.
    for id in [leader, f] {
        assert!(
            zk_tests::wait_until(Duration::from_secs(30), || ens.mode(id).as_deref()
                == Some("follower")),
            "{name}: removed server {id} is {:?}",
            ens.mode(id)
        );
    }
}

#[test]
fn three_to_five_to_three_while_writing_ours() {
    three_five_three(Kind::Ours);
}

#[test]
fn three_to_five_to_three_while_writing_apache() {
    three_five_three(Kind::Apache);
}

/// A mixed ensemble, servers 1 and 2 ours and 3 Apache 3.8's, reconfigured from either
/// side: each implementation's leader proposes and activates, the other's learners follow
/// (PROPOSAL of type 16, COMMITANDACTIVATE, NEWLEADER's view in each other's layouts).
#[test]
fn reconfig_in_a_mixed_ensemble_from_either_side() {
    let mut ens = Ensemble::new(spec(Kind::Ours).member_kind(3, Kind::Apache));
    ens.start_all();
    let mut leader = ens.wait_serving(&[1, 2, 3], Duration::from_secs(60));
    // Make each side lead once: whoever leads first, then the other.
    for round in 0..2 {
        let kind = ens.spec.kind_of(leader);
        let what = format!("round {round}, leader {leader} ({})", kind.name());
        eprintln!("{what}");
        // Remove a follower of the other kind if there is one, then add it back.
        let victim = [1, 2, 3]
            .into_iter()
            .find(|i| *i != leader && ens.spec.kind_of(*i) != kind)
            .unwrap_or_else(|| [1, 2, 3].into_iter().find(|i| *i != leader).unwrap());
        let via = [1, 2, 3]
            .into_iter()
            .find(|i| *i != leader && *i != victim)
            .unwrap();
        let r = reconfig(
            &ens.member(via).hosts(),
            &["--leaving", &victim.to_string()],
        );
        assert_eq!(r["ok"], true, "{what}: {r}");
        let two = r["data"].as_str().unwrap().to_string();
        assert_eq!(members(&two).len(), 2, "{what}: {two}");
        all_show(&ens, &[1, 2, 3], &two);
        let r = reconfig(
            &ens.member(victim).hosts(),
            &["--joining", &ens.joiner(victim)],
        );
        assert_eq!(r["ok"], true, "{what}: {r}");
        let three = r["data"].as_str().unwrap().to_string();
        assert_eq!(members(&three).len(), 3, "{what}: {three}");
        all_show(&ens, &[1, 2, 3], &three);
        assert_eq!(
            zk_tests::kazoo::try_write(&ens.member(victim).hosts(), &format!("/r{round}")),
            Ok(()),
            "{what}"
        );
        if round == 0 {
            // Hand the lead to the other kind: stop this leader until the others elect.
            ens.kill(leader);
            let others: Vec<u64> = [1, 2, 3].into_iter().filter(|i| *i != leader).collect();
            let next = ens.wait_serving(&others, Duration::from_secs(60));
            ens.start(leader);
            ens.wait_serving(&[1, 2, 3], Duration::from_secs(60));
            if ens.spec.kind_of(next) == kind {
                // Both others are of the leader's kind: nothing more to show.
                break;
            }
            leader = next;
        }
    }
}

/// An observer learns each new view (INFORMANDACTIVATE), and a reconfig asked through it
/// reaches the leader; the same steps against Apache.
fn observer_follows(kind: Kind) -> Vec<String> {
    let name = kind.name();
    let mut spec = Spec::new(3, 1)
        .ticks(500, 10, 5)
        .extra("reconfigEnabled", "true")
        .extra("skipACL", "yes");
    spec.kind = kind;
    let mut ens = Ensemble::new(spec);
    ens.start_all();
    let leader = ens.wait_serving(&[1, 2, 3, 4], Duration::from_secs(60));
    let victim = [1, 2, 3].into_iter().find(|i| *i != leader).unwrap();
    // A client watching /zookeeper/config on the observer (Curator's EnsembleTracker
    // does) sees it change.
    let r = reconfig(
        &ens.member(4).hosts(),
        &[
            "--leaving",
            &victim.to_string(),
            "--watch-hosts",
            &ens.member(4).hosts(),
        ],
    );
    assert_eq!(r["ok"], true, "{name}: {r}");
    assert_eq!(r["event"], "CHANGED", "{name}: {r}");
    let text = r["data"].as_str().unwrap().to_string();
    all_show(&ens, &[1, 2, 3, 4], &text);
    let mut seen = vec![format!("{:?}", members(&text))];
    let r = reconfig(&ens.member(4).hosts(), &["--joining", &ens.joiner(victim)]);
    assert_eq!(r["ok"], true, "{name}: {r}");
    let text = r["data"].as_str().unwrap().to_string();
    all_show(&ens, &[1, 2, 3, 4], &text);
    seen.push(format!("{:?}", members(&text)));
    assert_eq!(ens.mode(4).as_deref(), Some("observer"), "{name}");
    seen
}

#[test]
fn an_observer_follows_reconfigs_as_in_apache() {
    let apache = observer_follows(Kind::Apache);
    let ours = observer_follows(Kind::Ours);
    assert_eq!(ours, apache);
}

/// The membership `conf` prints (`membership:` and the lines after it): its members and
/// version, as [`members`] and [`version`] read a /zookeeper/config text.
fn conf_membership(ens: &Ensemble, id: u64) -> Option<(Vec<String>, String)> {
    let conf = ens.four(id, "conf")?;
    let (_, text) = conf.split_once("membership:")?;
    let text = text.trim_start();
    Some((members(text), version(text)))
}

/// One `mntr` value of server `id`.
fn mntr(ens: &Ensemble, id: u64, key: &str) -> Option<i64> {
    ens.four(id, "mntr")?.lines().find_map(|l| {
        let (k, v) = l.split_once('\t')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// A reconfig left pending by a leader that died, finished by the next leader as it
/// establishes, when that leader and the follower that must activate the view are of
/// different kinds (`new_leader` for servers 2 and 3, the other kind for server 1).
///
/// Leader 3 is asked to remove itself while follower 1 is stopped (SIGSTOP, its connection
/// still counted synced): 2 logs the reconfig, but the new voters {1, 2} never both ACK it,
/// so it does not commit. 3 is killed, 1 resumed; 2 has the longest log and is elected with
/// a quorum of both views (the pending one's included), and finishes the reconfig at
/// establishment. Follower 1 must then run the view {1, 2}: Apache's learner activates a
/// reconfig it is sent in a sync only through NEWLEADER's view at UPTODATE
/// (`Learner.syncWithLeader`'s newLeaderQV; the DIFF's plain COMMIT does not), so the
/// leader's NEWLEADER must carry the pending view it finishes, as Apache's
/// `getQuorumVerifierBytes` does. Checked on both servers: `conf`'s membership, mntr's
/// `zk_quorum_size`, /zookeeper/config, and a write committing afterwards.
fn new_leader_finishes_a_pending_reconfig(new_leader: Kind) {
    let other = match new_leader {
        Kind::Ours => Kind::Apache,
        Kind::Apache => Kind::Ours,
    };
    let what = format!(
        "new leader {}, follower {}",
        new_leader.name(),
        other.name()
    );
    let sp = spec(new_leader).ticks(500, 10, 10).member_kind(1, other);
    let mut ens = Ensemble::new(sp);
    // 3 leads: it has the highest id of the first two up.
    ens.start(2);
    ens.start(3);
    let first = ens.wait_serving(&[2, 3], Duration::from_secs(60));
    assert_eq!(first, 3, "{what}");
    ens.start(1);
    ens.wait_serving(&[1, 2, 3], Duration::from_secs(60));
    // Read by a four-letter word: a client's session would be a proposal of its own.
    let (initial, initial_version) = conf_membership(&ens, 2).expect("conf of 2");
    assert_eq!(initial.len(), 3, "{what}: {initial:?}");

    let key = "zk_cnt_proposal_ack_creation_latency";
    let start = mntr(&ens, 2, key).unwrap_or_else(|| panic!("{what}: no {key} on 2"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (client, _events) = rt
        .block_on(zk_cli::client::Client::connect(&ens.member(2).hosts()))
        .expect("connect to 2");
    let acl = zab_core::records::Acl::open_unsafe();
    rt.block_on(client.create("/before", b"", &acl, 0, 0))
        .expect("create /before");
    // 2 has acknowledged the session's proposal and the create's: the next proposal it
    // acknowledges is the reconfig.
    let acks_before = start + 2;
    let settled = zk_tests::wait_until(Duration::from_secs(10), || {
        mntr(&ens, 2, key) == Some(acks_before)
    });
    assert!(
        settled,
        "{what}: 2 acknowledged {:?}, not {acks_before}",
        mntr(&ens, 2, key)
    );
    ens.pause(1, true);
    // Not awaited: its answer dies with leader 3.
    let asked = rt.spawn(async move { client.reconfig(None, Some("3"), None, -1).await });
    let logged = zk_tests::wait_until(Duration::from_secs(10), || {
        mntr(&ens, 2, key).is_some_and(|n| n > acks_before)
    });
    if asked.is_finished() {
        panic!(
            "{what}: the reconfig was answered: {:?}\n{}",
            rt.block_on(asked),
            ens.logs(&[1, 2, 3])
        );
    }
    assert!(logged, "{what}: 2 never acknowledged the reconfig proposal");
    ens.kill(3);
    ens.pause(1, false);

    let leader = ens.wait_serving(&[1, 2], Duration::from_secs(60));
    assert_eq!(leader, 2, "{what}");
    let two = vec!["1:participant".to_string(), "2:participant".to_string()];
    let finished = config(&ens.member(2).hosts());
    assert_eq!(members(&finished), two, "{what}: 2's /zookeeper/config");
    let v = version(&finished);
    assert_ne!(v, initial_version, "{what}");
    for id in [1, 2] {
        let ok = zk_tests::wait_until(Duration::from_secs(20), || {
            conf_membership(&ens, id) == Some((two.clone(), v.clone()))
        });
        assert!(
            ok,
            "{what}: server {id}'s conf shows {:?}, not {two:?} version {v}\n{}",
            conf_membership(&ens, id),
            ens.logs(&[1, 2])
        );
        assert_eq!(
            mntr(&ens, id, "zk_quorum_size"),
            Some(2),
            "{what}: server {id}"
        );
        assert_eq!(
            config(&ens.member(id).hosts()),
            finished,
            "{what}: server {id}"
        );
    }
    assert_eq!(
        zk_tests::kazoo::try_write(&ens.member(1).hosts(), "/after"),
        Ok(()),
        "{what}"
    );
    assert_eq!(ens.mode(1).as_deref(), Some("follower"), "{what}");
    assert_eq!(ens.mode(2).as_deref(), Some("leader"), "{what}");
}

#[test]
fn our_new_leader_finishes_a_pending_reconfig_for_an_apache_follower() {
    new_leader_finishes_a_pending_reconfig(Kind::Ours);
}

#[test]
fn an_apache_new_leader_finishes_a_pending_reconfig_for_our_follower() {
    new_leader_finishes_a_pending_reconfig(Kind::Apache);
}
