//! A credential value that never shows: no `Display`, and `Debug` hides it.

use std::fmt;

/// A credential value, held only in memory; it has no `Display` and `Debug` hides it.
#[derive(Clone)]
pub(crate) struct Secret(String);

impl Secret {
    /// Wraps a credential value.
    pub(crate) fn new(value: String) -> Self {
        Secret(value)
    }

    /// The value, for the one call that stages it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}
