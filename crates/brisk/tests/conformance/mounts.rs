//! config.md: Mounts and Linux mount options, observed in the container's
//! /proc/self/mountinfo and by writing through the mounts.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::common::{Bundle, Env};
use crate::config_misc::{assert_create_fails, run_ok};
use crate::support::Outcome;
use crate::tests;

tests![
    mounts_are_mounted_in_the_listed_order => ["config.mounts.1"],
    a_relative_destination_is_relative_to_root => ["config.mounts.3", "config.mounts.4"],
    a_mount_without_destination_is_rejected => ["config.mounts.2", "config.valid-values.1"],
    bind_is_not_recursive_and_rbind_is => [
        "config.linux-mount-options.3", "config.linux-mount-options.24",
    ],
    ro_and_rw_options => [
        "config.linux-mount-options.37", "config.linux-mount-options.48",
    ],
    nosuid_nodev_noexec_and_their_opposites => [
        "config.linux-mount-options.5", "config.linux-mount-options.8",
        "config.linux-mount-options.13", "config.linux-mount-options.15",
        "config.linux-mount-options.20", "config.linux-mount-options.53",
    ],
    atime_options => [
        "config.linux-mount-options.2", "config.linux-mount-options.6",
        "config.linux-mount-options.12", "config.linux-mount-options.14",
        "config.linux-mount-options.19", "config.linux-mount-options.27",
        "config.linux-mount-options.52",
    ],
    superblock_options => [
        "config.linux-mount-options.1", "config.linux-mount-options.7",
        "config.linux-mount-options.10", "config.linux-mount-options.17",
        "config.linux-mount-options.55",
    ],
    options_without_a_visible_effect_are_accepted => [
        "config.linux-mount-options.4", "config.linux-mount-options.9",
        "config.linux-mount-options.11", "config.linux-mount-options.16",
        "config.linux-mount-options.18", "config.linux-mount-options.19",
        "config.linux-mount-options.50",
    ],
    remount_changes_an_existing_mount => ["config.linux-mount-options.28"],
    propagation_options => [
        "config.linux-mount-options.22", "config.linux-mount-options.38",
        "config.linux-mount-options.42", "config.linux-mount-options.47",
        "config.linux-mount-options.49", "config.linux-mount-options.56",
    ],
    slave_options => ["config.linux-mount-options.43", "config.linux-mount-options.51"],
    unknown_options_are_filesystem_data => [
        "config.linux-mount-options.71", "config.linux-mount-options.72",
    ],
    nosymfollow_option => ["config.linux-mount-options.21"],
    recursive_options_reach_submounts => [
        "config.linux-mount-options.30", "config.linux-mount-options.32",
        "config.linux-mount-options.35", "config.linux-mount-options.40",
    ],
    idmap_without_mappings_or_user_namespace_is_rejected => [
        "config.linux-mount-options.62", "config.linux-mount-options.63",
        "config.linux-mount-options.68", "config.linux-mount-options.69",
    ],
    mount_uid_mappings_without_gid_mappings_are_rejected => [
        "config.posix-platform-mounts.3", "config.posix-platform-mounts.6",
        "config.valid-values.1",
    ],
];

// ---------------------------------------------------------------- helpers

fn tmpfs(dest: &str, opts: &[&str]) -> Value {
    json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": opts})
}

fn bind(dest: &str, src: &Path, opts: &[&str]) -> Value {
    json!({
        "destination": dest, "type": "bind", "source": src.to_str().unwrap(),
        "options": opts,
    })
}

fn add(b: &mut Bundle, mounts: Vec<Value>) {
    b.config["mounts"].as_array_mut().unwrap().extend(mounts);
    b.write();
}

/// One line of /proc/self/mountinfo.
#[derive(Debug, Clone)]
struct Mi {
    point: String,
    opts: Vec<String>,
    optional: Vec<String>,
    fstype: String,
    superopts: Vec<String>,
}

impl Mi {
    fn has(&self, o: &str) -> bool {
        self.opts.iter().any(|x| x == o)
    }
    fn has_super(&self, o: &str) -> bool {
        self.superopts.iter().any(|x| x == o)
    }
    fn has_optional(&self, prefix: &str) -> bool {
        self.optional.iter().any(|x| x.starts_with(prefix))
    }
}

fn parse_mountinfo(text: &str) -> Vec<Mi> {
    let split = |s: &str| s.split(',').map(String::from).collect::<Vec<_>>();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let dash = f.iter().position(|x| *x == "-")?;
            Some(Mi {
                point: f.get(4)?.to_string(),
                opts: split(f.get(5)?),
                optional: f[6..dash].iter().map(|s| s.to_string()).collect(),
                fstype: f.get(dash + 1)?.to_string(),
                superopts: split(f.get(dash + 3)?),
            })
        })
        .collect()
}

/// The last (topmost) mount at `point`.
fn at<'a>(mi: &'a [Mi], point: &str) -> &'a Mi {
    mi.iter()
        .rev()
        .find(|m| m.point == point)
        .unwrap_or_else(|| panic!("nothing mounted at {point}: {mi:#?}"))
}

/// Runs `cat /proc/self/mountinfo` in a container with these extra mounts.
fn container_mountinfo(env: &Env, name: &str, mounts: Vec<Value>) -> Vec<Mi> {
    let mut b = env.bundle(name, &["cat", "/proc/self/mountinfo"]);
    add(&mut b, mounts);
    parse_mountinfo(&run_ok(env, &b, name))
}

/// A mount on the host, detached when dropped.
struct HostMount(PathBuf);

impl HostMount {
    fn tmpfs(path: &Path, extra: &[&str]) -> HostMount {
        std::fs::create_dir_all(path).unwrap();
        sh(&format!("mount -t tmpfs tmpfs '{}'", path.display()));
        for e in extra {
            sh(&format!("mount {e} '{}'", path.display()));
        }
        HostMount(path.to_path_buf())
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn sh(cmd: &str) {
    let st = Command::new("sh").arg("-c").arg(cmd).status().unwrap();
    assert!(st.success(), "{cmd} failed");
}

// ------------------------------------------------------------------ tests

fn mounts_are_mounted_in_the_listed_order() -> Outcome {
    let env = Env::new("cf-mount-order");
    let mi = container_mountinfo(
        &env,
        "b",
        vec![
            tmpfs("/m", &["size=1m"]),
            tmpfs("/m", &["size=2m"]),
            tmpfs("/m/sub", &["size=3m"]),
        ],
    );
    let pos = |size: &str, point: &str| {
        mi.iter()
            .position(|m| m.point == point && m.has_super(size))
            .unwrap_or_else(|| panic!("no {point} with {size}: {mi:#?}"))
    };
    let (first, second, sub) = (
        pos("size=1024k", "/m"),
        pos("size=2048k", "/m"),
        pos("size=3072k", "/m/sub"),
    );
    assert!(
        first < second && second < sub,
        "mounts not in the listed order: {mi:#?}"
    );
    assert!(
        at(&mi, "/m").has_super("size=2048k"),
        "/m is not the last mount"
    );
    env.assert_clean();
    Ok(())
}

fn a_relative_destination_is_relative_to_root() -> Outcome {
    let env = Env::new("cf-mount-relative");
    let mi = container_mountinfo(&env, "b", vec![tmpfs("reldest", &["size=1m"])]);
    assert_eq!(at(&mi, "/reldest").fstype, "tmpfs");
    env.assert_clean();
    Ok(())
}

fn a_mount_without_destination_is_rejected() -> Outcome {
    let env = Env::new("cf-mount-no-dest");
    let mut b = env.bundle("b", &["true"]);
    add(
        &mut b,
        vec![json!({"type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]})],
    );
    assert_create_fails(&env, &b, "d", "mount without destination");
    Ok(())
}

fn bind_is_not_recursive_and_rbind_is() -> Outcome {
    let env = Env::new("cf-mount-bind");
    let src = env.base.join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("top"), "top\n").unwrap();
    let sub = HostMount::tmpfs(&src.join("sub"), &[]);
    std::fs::write(src.join("sub/inner"), "inner\n").unwrap();
    let mut b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "cat /b/top /r/top; cat /b/sub/inner 2>/dev/null || echo no-inner; cat /r/sub/inner",
        ],
    );
    add(
        &mut b,
        vec![bind("/b", &src, &["bind"]), bind("/r", &src, &["rbind"])],
    );
    let out = run_ok(&env, &b, "b");
    assert_eq!(out, "top\ntop\nno-inner\ninner\n");
    drop(sub);
    env.assert_clean();
    Ok(())
}

fn ro_and_rw_options() -> Outcome {
    let env = Env::new("cf-mount-ro");
    let src = env.base.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let mut b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "echo x > /ro/f 2>/dev/null && echo ro-written; echo y > /rw/f && echo rw-written; \
             echo z > /t/f 2>/dev/null && echo t-written; cat /proc/self/mountinfo",
        ],
    );
    add(
        &mut b,
        vec![
            bind("/ro", &src, &["rbind", "ro"]),
            bind("/rw", &src, &["rbind", "ro", "rw"]),
            tmpfs("/t", &["ro"]),
        ],
    );
    let out = run_ok(&env, &b, "r");
    assert!(out.starts_with("rw-written\n"), "{out}");
    assert_eq!(std::fs::read_to_string(src.join("f")).unwrap(), "y\n");
    let mi = parse_mountinfo(&out);
    assert!(at(&mi, "/ro").has("ro"));
    assert!(at(&mi, "/rw").has("rw"));
    assert!(at(&mi, "/t").has("ro"));
    env.assert_clean();
    Ok(())
}

fn nosuid_nodev_noexec_and_their_opposites() -> Outcome {
    let env = Env::new("cf-mount-nosuid");
    let mi = container_mountinfo(
        &env,
        "b",
        vec![
            tmpfs("/a", &["nosuid", "nodev", "noexec"]),
            tmpfs("/b", &["nosuid", "nodev", "noexec", "suid", "dev", "exec"]),
        ],
    );
    let a = at(&mi, "/a");
    for o in ["nosuid", "nodev", "noexec"] {
        assert!(a.has(o), "/a lacks {o}: {a:?}");
        assert!(!at(&mi, "/b").has(o), "/b has {o}: {:?}", at(&mi, "/b"));
    }
    env.assert_clean();
    Ok(())
}

fn atime_options() -> Outcome {
    let env = Env::new("cf-mount-atime");
    let mi = container_mountinfo(
        &env,
        "b",
        vec![
            tmpfs("/noatime", &["noatime"]),
            tmpfs("/atime", &["noatime", "atime"]),
            tmpfs("/nodiratime", &["nodiratime"]),
            tmpfs("/diratime", &["nodiratime", "diratime"]),
            tmpfs("/strict", &["strictatime"]),
            tmpfs("/nostrict", &["strictatime", "nostrictatime"]),
            tmpfs("/relatime", &["relatime"]),
        ],
    );
    let m = |p: &str| at(&mi, p).clone();
    assert!(m("/noatime").has("noatime"), "{:?}", m("/noatime"));
    assert!(!m("/atime").has("noatime"), "{:?}", m("/atime"));
    assert!(m("/nodiratime").has("nodiratime"), "{:?}", m("/nodiratime"));
    assert!(!m("/diratime").has("nodiratime"), "{:?}", m("/diratime"));
    let s = m("/strict");
    assert!(!s.has("relatime") && !s.has("noatime"), "{s:?}");
    // Without strictatime the kernel's default, relatime, applies again.
    assert!(m("/nostrict").has("relatime"), "{:?}", m("/nostrict"));
    assert!(m("/relatime").has("relatime"), "{:?}", m("/relatime"));
    env.assert_clean();
    Ok(())
}

fn superblock_options() -> Outcome {
    let env = Env::new("cf-mount-sb");
    let mi = container_mountinfo(
        &env,
        "b",
        vec![
            tmpfs("/sync", &["sync"]),
            tmpfs("/async", &["sync", "async"]),
            tmpfs("/dirsync", &["dirsync"]),
            tmpfs("/lazy", &["lazytime"]),
            tmpfs("/nolazy", &["lazytime", "nolazytime"]),
        ],
    );
    let m = |p: &str| at(&mi, p).clone();
    assert!(m("/sync").has_super("sync"), "{:?}", m("/sync"));
    assert!(!m("/async").has_super("sync"), "{:?}", m("/async"));
    assert!(m("/dirsync").has_super("dirsync"), "{:?}", m("/dirsync"));
    assert!(m("/lazy").has_super("lazytime"), "{:?}", m("/lazy"));
    assert!(!m("/nolazy").has_super("lazytime"), "{:?}", m("/nolazy"));
    env.assert_clean();
    Ok(())
}

fn options_without_a_visible_effect_are_accepted() -> Outcome {
    let env = Env::new("cf-mount-accepted");
    let opts = [
        "defaults",
        "iversion",
        "noiversion",
        "loud",
        "silent",
        "norelatime",
        "nostrictatime",
    ];
    let mounts = opts
        .iter()
        .map(|o| tmpfs(&format!("/{o}"), &[o, "size=1m"]))
        .collect();
    let mi = container_mountinfo(&env, "b", mounts);
    for o in opts {
        let m = at(&mi, &format!("/{o}"));
        assert!(m.has_super("size=1024k"), "/{o}: {m:?}");
    }
    env.assert_clean();
    Ok(())
}

fn remount_changes_an_existing_mount() -> Outcome {
    let env = Env::new("cf-mount-remount");
    let mi = container_mountinfo(
        &env,
        "b",
        vec![
            tmpfs("/r", &["size=1m"]),
            tmpfs("/r", &["remount", "ro", "size=2m"]),
        ],
    );
    let at_r: Vec<&Mi> = mi.iter().filter(|m| m.point == "/r").collect();
    assert_eq!(at_r.len(), 1, "remount added a mount: {at_r:#?}");
    assert!(at_r[0].has("ro"), "{:?}", at_r[0]);
    assert!(at_r[0].has_super("size=2048k"), "{:?}", at_r[0]);
    env.assert_clean();
    Ok(())
}

fn propagation_options() -> Outcome {
    let env = Env::new("cf-mount-propagation");
    let mi = container_mountinfo(
        &env,
        "b",
        vec![
            tmpfs("/shared", &["shared"]),
            tmpfs("/rshared", &["rshared"]),
            tmpfs("/private", &["shared", "private"]),
            tmpfs("/rprivate", &["rshared", "rprivate"]),
            tmpfs("/unbindable", &["unbindable"]),
            tmpfs("/runbindable", &["runbindable"]),
        ],
    );
    for p in ["/shared", "/rshared"] {
        assert!(at(&mi, p).has_optional("shared:"), "{:?}", at(&mi, p));
    }
    for p in ["/private", "/rprivate"] {
        let m = at(&mi, p);
        assert!(
            !m.has_optional("shared:") && !m.has_optional("master:"),
            "{m:?}"
        );
    }
    for p in ["/unbindable", "/runbindable"] {
        assert!(at(&mi, p).has_optional("unbindable"), "{:?}", at(&mi, p));
    }
    env.assert_clean();
    Ok(())
}

fn slave_options() -> Outcome {
    let env = Env::new("cf-mount-slave");
    // A shared mount on the host: a container's bind of it can be its
    // slave, and a slave mount shows "master:N" and no "shared:N".
    let src = env.base.join("shsrc");
    let host = HostMount::tmpfs(&src, &["--make-shared"]);
    let mi = container_mountinfo(
        &env,
        "b",
        vec![
            bind("/slave", &src, &["rbind", "shared", "slave"]),
            bind("/rslave", &src, &["rbind", "rshared", "rslave"]),
        ],
    );
    for p in ["/slave", "/rslave"] {
        let m = at(&mi, p);
        assert!(
            m.has_optional("master:") && !m.has_optional("shared:"),
            "{p}: {m:?}"
        );
    }
    drop(host);
    env.assert_clean();
    Ok(())
}

fn unknown_options_are_filesystem_data() -> Outcome {
    let env = Env::new("cf-mount-data");
    let mi = container_mountinfo(
        &env,
        "b",
        vec![tmpfs(
            "/d",
            &["nosuid", "size=1m", "mode=0701", "nr_inodes=77"],
        )],
    );
    let m = at(&mi, "/d");
    for o in ["size=1024k", "mode=701", "nr_inodes=77"] {
        assert!(m.has_super(o), "{o} not applied: {m:?}");
    }
    assert!(m.has("nosuid"), "{m:?}");
    env.assert_clean();
    Ok(())
}

fn nosymfollow_option() -> Outcome {
    let env = Env::new("cf-mount-nosymfollow");
    let mi = container_mountinfo(&env, "b", vec![tmpfs("/n", &["nosymfollow"])]);
    assert!(at(&mi, "/n").has("nosymfollow"), "{:?}", at(&mi, "/n"));
    env.assert_clean();
    Ok(())
}

fn recursive_options_reach_submounts() -> Outcome {
    let env = Env::new("cf-mount-recursive");
    let src = env.base.join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    let sub = HostMount::tmpfs(&src.join("sub"), &[]);
    let mi = container_mountinfo(
        &env,
        "b",
        vec![bind(
            "/r",
            &src,
            &["rbind", "rro", "rnosuid", "rnoexec", "rnoatime"],
        )],
    );
    for p in ["/r", "/r/sub"] {
        let m = at(&mi, p);
        for o in ["ro", "nosuid", "noexec", "noatime"] {
            assert!(m.has(o), "{p} lacks {o}: {m:?}");
        }
    }
    drop(sub);
    env.assert_clean();
    Ok(())
}

fn idmap_without_mappings_or_user_namespace_is_rejected() -> Outcome {
    let env = Env::new("cf-mount-idmap");
    let src = env.base.join("src");
    std::fs::create_dir_all(&src).unwrap();
    for (i, o) in ["idmap", "ridmap"].iter().enumerate() {
        let mut b = env.bundle(&format!("b{i}"), &["true"]);
        add(&mut b, vec![bind("/i", &src, &["rbind", o])]);
        assert_create_fails(&env, &b, &format!("i{i}"), &format!("{o} without mappings"));
    }
    Ok(())
}

fn mount_uid_mappings_without_gid_mappings_are_rejected() -> Outcome {
    let env = Env::new("cf-mount-half-mapping");
    let src = env.base.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    for (i, key) in ["uidMappings", "gidMappings"].iter().enumerate() {
        let mut b = env.bundle(&format!("b{i}"), &["true"]);
        let mut m = bind("/i", &src, &["rbind", "idmap"]);
        m[key] = map.clone();
        add(&mut b, vec![m]);
        assert_create_fails(&env, &b, &format!("h{i}"), &format!("only {key}"));
    }
    Ok(())
}
