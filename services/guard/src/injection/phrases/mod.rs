//! The phrase rules of the injection guard, in English and Chinese.
//!
//! A phrase is a sequence of slots; each slot lists alternatives, and the
//! slots must occur in order, each within the phrase's gap of the one
//! before. Alternatives are folded text (lower case, simplified Chinese,
//! single spaces, line breaks kept as `\n`, the text starting with one).
//! An ASCII alternative must start at a word boundary; one written `=word`
//! must end at one too (so `=all` does not match `allow`); one written
//! `word¬xyz` does not match when followed by `x`, `y` or `z` (so
//! `系统提示¬音` leaves 系统提示音, the notification sound, alone).
//!
//! The rules look for the *structure* of an attack — an override verb
//! aimed at the assistant's instructions, a request for its hidden prompt,
//! a persona without limits — rather than for words that attacks share
//! with ordinary questions: "how do I override a default setting" and
//! "报销时可以忽略哪些发票" name no instructions to override.

/// One phrase rule.
pub struct Phrase {
    /// The slots, in order.
    pub slots: &'static [&'static [&'static str]],
    /// Most characters between one slot's end and the next one's start.
    pub gap: usize,
}

/// A family of phrases sharing a rule id.
pub struct Family {
    /// The rule id (`injection.override`).
    pub rule: &'static str,
    /// Checked only in retrieved passages and documents.
    pub indirect_only: bool,
    /// A statement about the rules ("the previous rules are void") that
    /// does not count when its sentence asks whether it holds ("之前的审批
    /// 规则已经作废了吗？").
    pub unless_asked: bool,
    /// The phrases.
    pub phrases: &'static [Phrase],
}

// One file per family (and the shared word lists): they are data, one
// alternative per line as rustfmt lays them out, so the big ones run past
// the usual file size.
mod delimiter;
mod encoded;
mod extraction;
mod indirect;
mod overrides;
mod roleplay;
mod words;

/// Every family.
pub const FAMILIES: &[Family] = &[
    Family {
        rule: "injection.override",
        indirect_only: false,
        unless_asked: false,
        phrases: overrides::PHRASES,
    },
    Family {
        rule: "injection.roleplay",
        indirect_only: false,
        unless_asked: false,
        phrases: roleplay::PHRASES,
    },
    Family {
        rule: "injection.extraction",
        indirect_only: false,
        unless_asked: false,
        phrases: extraction::PHRASES,
    },
    Family {
        rule: "injection.delimiter",
        indirect_only: false,
        unless_asked: false,
        phrases: delimiter::PHRASES,
    },
    Family {
        rule: "injection.encoded",
        indirect_only: false,
        unless_asked: false,
        phrases: encoded::PHRASES,
    },
    Family {
        rule: "injection.indirect",
        indirect_only: true,
        unless_asked: false,
        phrases: indirect::PHRASES,
    },
    // Statements that the assistant's rules no longer hold. A question
    // about whether a rule still holds is not one.
    Family {
        rule: "injection.override",
        indirect_only: false,
        unless_asked: true,
        phrases: overrides::MORE,
    },
    // Setting the assistant's instructions aside, in more words.
    Family {
        rule: "injection.override",
        indirect_only: false,
        unless_asked: false,
        phrases: overrides::EVEN_MORE,
    },
    // Personas without limits, hostile personas, privileged personas.
    Family {
        rule: "injection.roleplay",
        indirect_only: false,
        unless_asked: false,
        phrases: roleplay::MORE,
    },
    // Asking for the assistant's instructions, in more words.
    Family {
        rule: "injection.extraction",
        indirect_only: false,
        unless_asked: false,
        phrases: extraction::MORE,
    },
    // Ends of the context and headers that claim authority.
    Family {
        rule: "injection.delimiter",
        indirect_only: false,
        unless_asked: false,
        phrases: delimiter::MORE,
    },
    // Notes in passages that address whoever processes them.
    Family {
        rule: "injection.indirect",
        indirect_only: true,
        unless_asked: false,
        phrases: indirect::MORE,
    },
];
