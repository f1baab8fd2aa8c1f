//! (to be written)

use crate::tests;

tests![];
