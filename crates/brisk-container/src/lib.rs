//! brisk's container library: everything between a bundle on disk and a
//! running container process.
//!
//! - [`container`]: the lifecycle operations (create, start, state, kill,
//!   delete) over the [`state`] store.
//! - [`config`]: loading and validating `config.json`.
//! - [`init`]: the plan for the container's init, the clone, and the init's
//!   steps until execve; it uses [`namespaces`], [`rootfs`] and [`process`].
//! - [`features`]: what this build supports, as the OCI features document.

pub mod bounds;
pub mod config;
pub mod container;
pub mod error;
pub mod exec;
pub mod features;
pub mod hooks;
pub mod id;
pub mod init;
pub mod intelrdt;
pub mod mempolicy;
pub mod namespaces;
pub mod netdev;
pub mod notify;
pub mod process;
pub mod rootfs;
pub mod seccomp;
pub mod seccomp_section;
pub mod signal;
pub mod state;
mod sys;
pub mod terminal;
pub mod time;
pub mod timings;

pub use error::{Error, Result};
