//! The documents' two phases as the connector's commands carry them in their comment
//! (`mdc-connector arc-provisioner <phase> <target fingerprint>`, at most 100 characters): the
//! command history tells prepare commands from deliveries of a sealed credential by it.

/// The documents' `phase`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// No credential: the instance checks itself and, if it needs one, reports a one-time key.
    Prepare,
    /// The credential sealed to that key (a delivery).
    Connect,
}

impl Phase {
    /// The `phase` parameter's value, and the comment's word.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Phase::Prepare => "prepare",
            Phase::Connect => "connect",
        }
    }

    /// A command's comment: the job, the phase and the target's fingerprint.
    pub(crate) fn comment(self, fingerprint: &str) -> String {
        format!("mdc-connector arc-provisioner {} {fingerprint}", self.as_str())
    }

    /// The phase a connector command's comment names, if it names one.
    pub(crate) fn of_comment(comment: &str) -> Option<Phase> {
        let mut words = comment.split(' ');
        if (words.next(), words.next()) != (Some("mdc-connector"), Some("arc-provisioner")) {
            return None;
        }
        let word = words.next()?;
        [Phase::Prepare, Phase::Connect].into_iter().find(|p| p.as_str() == word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_name_their_phase() {
        for phase in [Phase::Prepare, Phase::Connect] {
            assert_eq!(Phase::of_comment(&phase.comment("0123456789abcdef")), Some(phase));
        }
        assert_eq!(Phase::of_comment("mdc-connector arc-provisioner 0123456789abcdef"), None, "older versions");
        assert_eq!(Phase::of_comment("someone connect"), None);
        assert!(Phase::Connect.comment("0123456789abcdef").len() <= 100, "SendCommand's Comment limit");
    }
}
