//! config-linux.md, Mount Label: `mountLabel` sets the SELinux context of
//! the container's mounts. Needs SELinux on the host. The section has no
//! MUST: no requirement ids.

use std::path::Path;

use serde_json::json;

use crate::common::Env;
use crate::namespaces::create;
use crate::support::{NotApplicable, Outcome};
use crate::tests;

tests![
    mount_label_is_the_context_of_mounts => [],
];

fn mount_label_is_the_context_of_mounts() -> Outcome {
    let enforcing = std::fs::read_to_string("/sys/fs/selinux/enforce").is_ok();
    if !Path::new("/sys/fs/selinux").exists() || !enforcing {
        return Err(NotApplicable("SELinux is not enabled on this host".into()));
    }
    let env = Env::new("cf-mountlabel");
    let mut b = env.bundle("b", &["sleep", "30"]);
    let label = "system_u:object_r:container_file_t:s0:c1,c2";
    b.set("/linux/mountLabel", json!(label));
    let pid = create(&env, &b, "l");
    let info = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let tmp = info
        .lines()
        .filter(|l| l.split(' ').nth(4) == Some("/tmp"))
        .last()
        .unwrap_or_else(|| panic!("no /tmp mount: {info}"));
    assert!(tmp.contains(&format!("context=\"{label}\"")), "{tmp}");
    env.brisk(&["delete", "--force", "l"]).ok();
    env.assert_clean();
    Ok(())
}
