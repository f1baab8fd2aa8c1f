//! The conformance suite's registry and runner. A test is a function plus
//! the ids of the spec requirements it checks (rows of
//! conformance/requirements.tsv): that annotation is what
//! docs/CONFORMANCE.md is generated from.

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};

/// A test that cannot run on this host (missing kernel feature, missing
/// tool): neither pass nor fail.
#[derive(Debug)]
pub struct NotApplicable(pub String);

pub type Outcome = Result<(), NotApplicable>;

pub struct Test {
    /// `module::function`.
    pub name: &'static str,
    /// Requirement ids from conformance/requirements.tsv.
    pub reqs: &'static [&'static str],
    pub run: fn() -> Outcome,
}

/// Registers tests: `tests![fn_name => ["runtime.state.1", ...], ...]`.
#[macro_export]
macro_rules! tests {
    ($($f:ident => [$($req:literal),* $(,)?]),* $(,)?) => {
        pub fn tests() -> Vec<$crate::support::Test> {
            vec![$($crate::support::Test {
                name: concat!(module_path!(), "::", stringify!($f)),
                reqs: &[$($req),*],
                run: $f,
            }),*]
        }
    };
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail(String),
    NotApplicable(String),
}

thread_local! {
    static PANIC_MSG: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs one test, turning a panic (a failed assertion) into `Fail`.
pub fn run_one(t: &Test) -> Status {
    let prev = panic::take_hook();
    panic::set_hook(Box::new(|info| {
        let msg = match info.payload().downcast_ref::<&str>() {
            Some(s) => s.to_string(),
            None => info
                .payload()
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_default(),
        };
        let loc = info
            .location()
            .map(|l| format!(" ({}:{})", l.file(), l.line()))
            .unwrap_or_default();
        PANIC_MSG.with(|m| *m.borrow_mut() = Some(format!("{msg}{loc}")));
    }));
    let result = panic::catch_unwind(AssertUnwindSafe(t.run));
    panic::set_hook(prev);
    match result {
        Ok(Ok(())) => Status::Pass,
        Ok(Err(NotApplicable(why))) => Status::NotApplicable(why),
        Err(_) => Status::Fail(
            PANIC_MSG
                .with(|m| m.borrow_mut().take())
                .unwrap_or_else(|| "panicked".into()),
        ),
    }
}
