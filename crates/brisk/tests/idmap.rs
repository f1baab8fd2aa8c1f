//! Idmapped mounts with the mappings in the option itself, crun's form
//! (`idmap=uids=0-1000-10;gids=0-2000-10`, `@` for mappings relative to
//! the container's user namespace), on real containers: the ids `ls -n`
//! shows through the mount.

mod common;

use std::os::unix::fs::chown;

use common::Env;
use serde_json::json;

/// A directory with files owned by 0:0 and 5:5 on disk.
fn source(env: &Env) -> String {
    let src = env.base.join("src");
    std::fs::create_dir_all(&src).unwrap();
    for (name, id) in [("f0", 0), ("f5", 5)] {
        let f = src.join(name);
        std::fs::write(&f, "x").unwrap();
        chown(&f, Some(id), Some(id)).unwrap();
    }
    src.to_string_lossy().into_owned()
}

/// `name uid gid` for each file `ls -ln` lists.
fn owners(ls: &str) -> Vec<String> {
    ls.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 9).then(|| format!("{} {} {}", f[8], f[2], f[3]))
        })
        .collect()
}

#[test]
fn idmap_option_mappings() {
    let env = Env::new("idmap-opt");
    let src = source(&env);
    let mut b = env.bundle("b", &["ls", "-ln", "/mnt"]);
    let mount = |opt: &str| json!({"destination": "/mnt", "type": "bind", "source": src, "options": ["bind", opt]});
    let mut mounts = b.config["mounts"].as_array().unwrap().clone();
    mounts.push(mount("idmap=uids=0-1000-10;gids=0-2000-10"));
    b.set("/mounts", json!(mounts));
    let out = env.brisk(&["run", "-b", b.path(), "o"]).ok();
    assert_eq!(owners(&out), ["f0 1000 2000", "f5 1005 2005"], "{out}");
    // The mount's own uidMappings/gidMappings win over the option's.
    let last = mounts.len() - 1;
    mounts[last]["uidMappings"] = json!([{"containerID": 0, "hostID": 3000, "size": 10}]);
    mounts[last]["gidMappings"] = json!([{"containerID": 0, "hostID": 3000, "size": 10}]);
    b.set("/mounts", json!(mounts));
    let out = env.brisk(&["run", "-b", b.path(), "w"]).ok();
    assert_eq!(owners(&out), ["f0 3000 3000", "f5 3005 3005"], "{out}");
    // A list without gids=, a triplet that is not one: errors naming the
    // mount's options.
    for bad in ["idmap=uids=0-1000-10", "idmap=uids=0-1000;gids=0-1-1"] {
        mounts[last] = mount(bad);
        b.set("/mounts", json!(mounts));
        let out = env.brisk(&["run", "-b", b.path(), "bad"]);
        assert_ne!(out.code, 0, "{bad} accepted");
        assert!(
            out.stderr.contains(&format!("mounts[{last}].options")),
            "{bad}: {}",
            out.stderr
        );
    }
    env.assert_clean();
}

/// `@` moves the host id by the container's own mapping: disk 0 shows as
/// container id 1 (host 100001) with `@0-1-10`.
#[test]
fn idmap_option_relative_to_the_user_namespace() {
    let env = Env::new("idmap-rel");
    let src = source(&env);
    let mut b = env.bundle("b", &["ls", "-ln", "/mnt"]);
    b.add_namespace("user", None);
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.set("/linux/uidMappings", map.clone());
    b.set("/linux/gidMappings", map);
    std::process::Command::new("chown")
        .args(["-R", "100000:100000"])
        .arg(b.dir.join("rootfs"))
        .status()
        .unwrap();
    let mut mounts = b.config["mounts"].as_array().unwrap().clone();
    mounts.push(json!({"destination": "/mnt", "type": "bind", "source": src,
        "options": ["bind", "idmap=uids=@0-1-10;gids=@0-2-10"]}));
    b.set("/mounts", json!(mounts));
    let out = env.brisk(&["run", "-b", b.path(), "r"]).ok();
    assert_eq!(owners(&out), ["f0 1 2", "f5 6 7"], "{out}");
    env.assert_clean();
}
