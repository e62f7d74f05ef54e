//! A team's own SLA policies, set at run time through the admin API and kept on the team
//! record (docs/REPORTS.md, "SLAs"): their checks and how a conversation finds its policy in
//! them. Pure.

use super::sla::Policy;
use crate::accounts::model::TeamSlaPolicy;

/// The longest target a policy may set: a year.
pub const MAX_TARGET_SECONDS: u64 = 366 * 86_400;

/// The most policies a team may hold (one per priority, and one for any priority).
pub const MAX_POLICIES: usize = 50;

/// Checks a team's policies against the priorities the routing can give a conversation
/// (`known_priorities`): each sets at least one target, every target is positive and at most
/// [`MAX_TARGET_SECONDS`], the priority is a known one (or `null`: any), and no two policies
/// are for the same priority. The error names the field (`sla[1].resolution_seconds`).
pub fn check(policies: &[TeamSlaPolicy], known_priorities: &[i32]) -> Result<(), String> {
    if policies.len() > MAX_POLICIES {
        return Err(format!("`sla` holds at most {MAX_POLICIES} policies"));
    }
    for (i, p) in policies.iter().enumerate() {
        let targets = [
            ("first_response_seconds", p.first_response_seconds),
            ("next_response_seconds", p.next_response_seconds),
            ("resolution_seconds", p.resolution_seconds),
        ];
        for (field, target) in targets {
            match target {
                Some(0) => return Err(format!("`sla[{i}].{field}` must be positive")),
                Some(s) if s > MAX_TARGET_SECONDS => {
                    return Err(format!(
                        "`sla[{i}].{field}` is at most {MAX_TARGET_SECONDS} (a year)"
                    ));
                }
                _ => {}
            }
        }
        if targets.iter().all(|(_, t)| t.is_none()) {
            return Err(format!(
                "`sla[{i}]` sets no target (first_response_seconds, next_response_seconds or resolution_seconds)"
            ));
        }
        if let Some(priority) = p.priority
            && !known_priorities.contains(&priority)
        {
            let mut known = known_priorities.to_vec();
            known.sort_unstable();
            known.dedup();
            let known: Vec<String> = known.iter().map(i32::to_string).collect();
            return Err(format!(
                "`sla[{i}].priority` {priority} is not a priority the routing sets (known: {}; null: any)",
                known.join(", ")
            ));
        }
        if policies[..i].iter().any(|q| q.priority == p.priority) {
            return Err(match p.priority {
                Some(priority) => format!("`sla[{i}].priority` {priority} has a policy already"),
                None => format!("`sla[{i}].priority`: any priority (null) has a policy already"),
            });
        }
    }
    Ok(())
}

/// The policy of a conversation at `priority` among a team's own: the one for that priority,
/// else the one for any priority.
pub fn find(policies: &[TeamSlaPolicy], priority: i32) -> Option<Policy> {
    policies
        .iter()
        .find(|p| p.priority == Some(priority))
        .or_else(|| policies.iter().find(|p| p.priority.is_none()))
        .map(policy)
}

/// A stored policy as the clocks read it (milliseconds). Targets out of range (never stored:
/// [`check`] refuses them) count as unset.
pub fn policy(p: &TeamSlaPolicy) -> Policy {
    let ms = |s: Option<u64>| {
        s.filter(|&s| s > 0 && s <= MAX_TARGET_SECONDS)
            .and_then(|s| i64::try_from(s).ok())
            .map(|s| s * 1000)
    };
    Policy {
        first_response_ms: ms(p.first_response_seconds),
        next_response_ms: ms(p.next_response_seconds),
        resolution_ms: ms(p.resolution_seconds),
        business_hours: p.business_hours,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(priority: Option<i32>, first: Option<u64>) -> TeamSlaPolicy {
        TeamSlaPolicy {
            priority,
            first_response_seconds: first,
            ..TeamSlaPolicy::default()
        }
    }

    const KNOWN: [i32; 3] = [0, 5, 10];

    #[test]
    fn accepts_none_one_per_priority_and_one_for_any() {
        assert_eq!(check(&[], &KNOWN), Ok(()));
        let all = [
            p(Some(10), Some(60)),
            p(None, Some(600)),
            TeamSlaPolicy {
                priority: Some(0),
                next_response_seconds: Some(MAX_TARGET_SECONDS),
                resolution_seconds: Some(1),
                business_hours: true,
                ..TeamSlaPolicy::default()
            },
        ];
        assert_eq!(check(&all, &KNOWN), Ok(()));
    }

    #[test]
    fn refuses_zero_and_too_long_targets_naming_the_field() {
        let zero = [p(None, Some(60)), p(Some(5), Some(0))];
        assert_eq!(
            check(&zero, &KNOWN),
            Err("`sla[1].first_response_seconds` must be positive".into())
        );
        for (field, policy) in [
            (
                "first_response_seconds",
                p(None, Some(MAX_TARGET_SECONDS + 1)),
            ),
            (
                "next_response_seconds",
                TeamSlaPolicy {
                    next_response_seconds: Some(u64::MAX),
                    ..TeamSlaPolicy::default()
                },
            ),
            (
                "resolution_seconds",
                TeamSlaPolicy {
                    resolution_seconds: Some(MAX_TARGET_SECONDS + 1),
                    ..TeamSlaPolicy::default()
                },
            ),
        ] {
            let err = check(&[policy], &KNOWN).expect_err(field);
            assert!(
                err.starts_with(&format!("`sla[0].{field}` is at most")),
                "{err}"
            );
        }
    }

    #[test]
    fn refuses_a_policy_without_targets() {
        let empty = TeamSlaPolicy {
            business_hours: true,
            ..TeamSlaPolicy::default()
        };
        let err = check(&[empty], &KNOWN).expect_err("no target");
        assert!(err.starts_with("`sla[0]` sets no target"), "{err}");
    }

    #[test]
    fn refuses_unknown_priorities_listing_the_known_ones() {
        let err = check(&[p(Some(7), Some(60))], &[10, 0, 5, 0]).expect_err("unknown");
        assert_eq!(
            err,
            "`sla[0].priority` 7 is not a priority the routing sets (known: 0, 5, 10; null: any)"
        );
    }

    #[test]
    fn refuses_two_policies_for_one_priority() {
        let twice = [p(Some(5), Some(60)), p(None, Some(60)), p(Some(5), Some(9))];
        assert_eq!(
            check(&twice, &KNOWN),
            Err("`sla[2].priority` 5 has a policy already".into())
        );
        let any_twice = [p(None, Some(60)), p(None, Some(9))];
        assert!(
            check(&any_twice, &KNOWN)
                .expect_err("twice")
                .starts_with("`sla[1].priority`: any priority")
        );
    }

    #[test]
    fn refuses_too_many_policies() {
        let many: Vec<TeamSlaPolicy> = (0..=MAX_POLICIES).map(|_| p(None, Some(1))).collect();
        assert!(
            check(&many, &KNOWN)
                .expect_err("many")
                .contains("at most 50 policies")
        );
    }

    #[test]
    fn a_priority_finds_its_own_policy_else_the_any_one() {
        let policies = [p(None, Some(600)), p(Some(10), Some(60))];
        let first = |priority| find(&policies, priority).and_then(|p| p.first_response_ms);
        assert_eq!(first(10), Some(60_000), "its own, though listed later");
        assert_eq!(first(0), Some(600_000), "the any-priority one");
        assert_eq!(find(&policies[1..], 0), None, "none for that priority");
        assert_eq!(find(&[], 0), None);
    }

    #[test]
    fn a_stored_policy_counts_in_milliseconds() {
        let stored = TeamSlaPolicy {
            priority: None,
            first_response_seconds: Some(90),
            next_response_seconds: None,
            resolution_seconds: Some(0),
            business_hours: true,
        };
        assert_eq!(
            policy(&stored),
            Policy {
                first_response_ms: Some(90_000),
                next_response_ms: None,
                resolution_ms: None,
                business_hours: true,
            }
        );
    }
}
