//! From a finding to an action: the configured rules, then the built-in
//! ones, first match wins.

use zhishu_core::Role;
use zhishu_core::config::{GuardAction, GuardConfig, GuardPoint, GuardRule, MaskTarget};

/// Who is asking and over what: the selectors a rule may name.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The caller's roles.
    pub roles: Vec<Role>,
    /// The caller's access groups.
    pub groups: Vec<String>,
    /// The collection(s) concerned: a passage's or document's; the
    /// collections a question is narrowed to.
    pub collections: Vec<String>,
}

impl Context {
    /// The same caller, over one collection.
    pub fn in_collection(&self, collection: &str) -> Self {
        Self {
            roles: self.roles.clone(),
            groups: self.groups.clone(),
            collections: vec![collection.to_owned()],
        }
    }
}

/// The ordered rules.
#[derive(Debug, Clone)]
pub struct Policy {
    rules: Vec<GuardRule>,
}

impl Policy {
    /// The configured rules followed by [`GuardConfig::default_rules`].
    pub fn new(config: &GuardConfig) -> Self {
        let mut rules = config.rules.clone();
        rules.extend(GuardConfig::default_rules());
        Self { rules }
    }

    /// The action for guard rule `rule` at `point` for `ctx` (allow when
    /// no rule governs it).
    pub fn decide(
        &self,
        rule: &str,
        point: GuardPoint,
        ctx: &Context,
    ) -> (GuardAction, MaskTarget) {
        for r in &self.rules {
            if r.governs(rule)
                && selects(r, point, ctx)
                && (r.collections.is_empty()
                    || ctx.collections.iter().any(|x| r.collections.contains(x)))
            {
                return (r.action, r.mask);
            }
        }
        (GuardAction::Allow, MaskTarget::Both)
    }

    /// Whether any rule of the family (`pii.`, `lexicon.`) may change text
    /// at `point` for `ctx`: what a stream must hold back for.
    /// An exact rule id (no trailing `.`) asks what [`Policy::decide`]
    /// says for it.
    pub fn may_change(&self, family: &str, point: GuardPoint, ctx: &Context) -> bool {
        if !family.ends_with('.') {
            let (action, _) = self.decide(family, point, ctx);
            return matches!(action, GuardAction::Redact | GuardAction::Block);
        }
        self.rules.iter().any(|r| {
            let covers = r.rule == "*"
                || r.rule.starts_with(family)
                || family.starts_with(r.rule.trim_end_matches('*'));
            covers
                && matches!(r.action, GuardAction::Redact | GuardAction::Block)
                && selects(r, point, ctx)
        })
    }
}

/// Whether `r`'s point, role and group selectors admit `point` and `ctx`
/// (collections are the caller's to check: a stream cannot know them).
fn selects(r: &GuardRule, point: GuardPoint, ctx: &Context) -> bool {
    (r.points.is_empty() || r.points.contains(&point))
        && (r.roles.is_empty() || ctx.roles.iter().any(|x| r.roles.contains(x)))
        && (r.groups.is_empty() || ctx.groups.iter().any(|x| r.groups.contains(x)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_rules_come_first_and_selectors_narrow_them() {
        let mut c = GuardConfig::default();
        c.rules.push(GuardRule {
            rule: "pii.*".into(),
            points: vec![GuardPoint::Answer],
            action: GuardAction::Allow,
            mask: MaskTarget::Both,
            roles: vec![Role::ComplianceOfficer],
            groups: vec![],
            collections: vec![],
        });
        let p = Policy::new(&c);
        let officer = Context {
            roles: vec![Role::ComplianceOfficer],
            ..Context::default()
        };
        let employee = Context {
            roles: vec![Role::Employee],
            ..Context::default()
        };
        assert_eq!(
            p.decide("pii.cn_id", GuardPoint::Answer, &officer).0,
            GuardAction::Allow
        );
        assert_eq!(
            p.decide("pii.cn_id", GuardPoint::Answer, &employee).0,
            GuardAction::Redact
        );
        assert_eq!(
            p.decide("injection.override", GuardPoint::Question, &employee)
                .0,
            GuardAction::Block
        );
        assert_eq!(
            p.decide("injection.override", GuardPoint::Passage, &employee)
                .0,
            GuardAction::Flag
        );
        assert_eq!(
            p.decide("other", GuardPoint::Passage, &employee).0,
            GuardAction::Allow
        );
        assert!(p.may_change("pii.", GuardPoint::Answer, &employee));
        assert!(!p.may_change("injection.", GuardPoint::Answer, &employee));
    }
}
