//! `brisk seccomp compile|show|cache`: the compiled-filter cache from the
//! command line.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use brisk_seccomp::cache::{self, Cache};
use brisk_seccomp::{disasm, Profile};

use crate::cli::{SeccompCacheCommand, SeccompCommand};

fn cache_of(dir: Option<&Path>) -> Cache {
    Cache::new(dir.unwrap_or(Path::new(cache::DEFAULT_DIR)))
}

fn load_profile(file: &Path) -> Result<Profile> {
    let data = std::fs::read(file).with_context(|| format!("read {}", file.display()))?;
    let section = brisk_seccomp::profile::section_from_json(&data).map_err(|e| {
        anyhow::anyhow!(
            "{}: not a config.json with linux.seccomp nor a seccomp section: {e}",
            file.display()
        )
    })?;
    Ok(Profile::from_oci(&section)?)
}

pub fn run(
    command: SeccompCommand,
    dir: Option<&Path>,
    compiler: brisk_seccomp::Compiler,
) -> Result<i32> {
    let cache = cache_of(dir);
    match command {
        SeccompCommand::Compile { file } => {
            let profile = load_profile(&file)?;
            let p = cache::program(&profile, Some(&cache), compiler)?;
            if let cache::Source::Compiled { stored: Err(e), .. } = &p.source {
                anyhow::bail!(
                    "{}: compiled but not stored in {}: {e}",
                    file.display(),
                    cache.dir.display()
                );
            }
            println!(
                "{} {} instructions ({})",
                cache::hex(&p.key),
                p.bpf.len() / 8,
                p.source
            );
            for name in &p.skipped {
                eprintln!(
                    "skipped (unknown to libseccomp {}): {name}",
                    brisk_seccomp::LIBSECCOMP_VERSION
                );
            }
            Ok(0)
        }
        SeccompCommand::Show { file } => {
            let profile = load_profile(&file)?;
            let key = cache::key(&profile, compiler);
            let (bpf, from) = match cache.lookup(&key) {
                cache::Lookup::Hit(bpf) => {
                    (bpf, format!("cache {}", cache.path_of(&key).display()))
                }
                _ => {
                    let (c, by) = compiler.compile(&profile)?;
                    (c.bpf, format!("{by} (not cached)"))
                }
            };
            let text = format!(
                "# key {}\n# {} instructions, {from}\n# flags {:#x}\n{}",
                cache::hex(&key),
                bpf.len() / 8,
                profile.flags,
                disasm::disassemble(&bpf)
            );
            // A closed pipe (`| head`) is not an error.
            match std::io::stdout().write_all(text.as_bytes()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(0),
            }
        }
        SeccompCommand::Cache {
            command: SeccompCacheCommand::List,
        } => {
            let entries = cache
                .list()
                .with_context(|| format!("list {}", cache.dir.display()))?;
            for e in entries {
                let name = e
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                match e.check {
                    Ok(n) => println!("{name} {n} instructions {} bytes", e.size),
                    Err(why) => println!("{name} invalid ({why}) {} bytes", e.size),
                }
            }
            Ok(0)
        }
        SeccompCommand::Cache {
            command: SeccompCacheCommand::Clear,
        } => {
            let n = cache
                .clear()
                .with_context(|| format!("clear {}", cache.dir.display()))?;
            println!("removed {n} entries from {}", cache.dir.display());
            Ok(0)
        }
    }
}
