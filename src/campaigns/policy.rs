//! Country and policy rules for templates, pure (docs/CAMPAIGNS.md, "Countries and the
//! messaging limit"): which countries a template may reach ([`country_allows`]) and what counts
//! toward the business portfolio's messaging limit ([`counts_toward_limit`], [`MessagingLimit`]).
//!
//! A number's country comes from libphonenumber's metadata ([`crate::crm::contact::country_of`]):
//! the +1 calling code is shared by the United States, Canada and the Caribbean, so it is told
//! apart by the number itself, never by its prefix. A customer known only by a business-scoped
//! user id (BSUID) has no number: no country rule applies to it (it follows the consent
//! ledger), and a campaign counts such recipients apart.

use std::collections::BTreeSet;

use serde::Serialize;

use super::templates::Category;
use crate::config::CampaignSettings;

/// Regions nobody may message through the platform (Meta's terms: comprehensive sanctions).
/// Crimea, Donetsk and Luhansk share Ukraine's and Russia's calling codes: a number does not
/// tell them apart, so only these countries are refused by number.
pub const SANCTIONED: [&str; 4] = ["CU", "IR", "KP", "SY"];

/// Where a template goes, as far as country rules care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recipient<'a> {
    /// A phone number, and its country when libphonenumber knows it (`None`: not a valid
    /// number of any country).
    Number { country: Option<&'a str> },
    /// A business-scoped user id only: no number, no country.
    BsuidOnly,
}

impl<'a> Recipient<'a> {
    /// A WhatsApp address: digits are a number (`country`: its country), anything else a BSUID.
    pub fn of(address: &str, country: Option<&'a str>) -> Recipient<'a> {
        if crate::crm::contact::phone_digits(address).is_some() {
            Recipient::Number { country }
        } else {
            Recipient::BsuidOnly
        }
    }
}

/// The country rules of the configuration (`campaigns`), normalised.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CountryRules {
    /// Countries marketing may reach; empty: every country not denied.
    pub allow: BTreeSet<String>,
    /// Countries marketing never reaches.
    pub deny: BTreeSet<String>,
    /// Meta delivers no marketing template to United States numbers while its pause lasts (it
    /// answers 131049 and does not charge): none is sent.
    pub us_marketing_paused: bool,
}

impl CountryRules {
    pub fn of(settings: &CampaignSettings) -> Self {
        let set = |countries: &[String]| {
            countries
                .iter()
                .map(|c| c.trim().to_ascii_uppercase())
                .collect()
        };
        Self {
            allow: set(&settings.marketing_countries.allow),
            deny: set(&settings.marketing_countries.deny),
            us_marketing_paused: settings.us_marketing_paused,
        }
    }
}

/// Why a country rule refuses a template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CountryRefusal {
    /// A sanctioned country: nothing goes there.
    Sanctioned(String),
    /// Marketing to a country on the deny list.
    Denied(String),
    /// Marketing to a country not on the allow list.
    NotAllowed(String),
    /// Marketing to a United States number during Meta's pause.
    UsPaused,
    /// Marketing under an allow list to a number of no known country.
    UnknownCountry,
}

impl CountryRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            CountryRefusal::Sanctioned(_) => "sanctioned_country",
            CountryRefusal::Denied(_) => "country_denied",
            CountryRefusal::NotAllowed(_) => "country_not_allowed",
            CountryRefusal::UsPaused => "us_marketing_paused",
            CountryRefusal::UnknownCountry => "unknown_country",
        }
    }

    pub fn message(&self) -> String {
        match self {
            CountryRefusal::Sanctioned(c) => {
                format!("{c} is a sanctioned country: no message goes there")
            }
            CountryRefusal::Denied(c) => format!(
                "marketing to {c} numbers is denied by this gateway's configuration \
                 (campaigns.marketing_countries.deny)"
            ),
            CountryRefusal::NotAllowed(c) => format!(
                "marketing goes only to the countries of campaigns.marketing_countries.allow, \
                 and {c} is not one of them"
            ),
            CountryRefusal::UsPaused => "Meta delivers no marketing template to United States \
                 numbers while its pause lasts (campaigns.us_marketing_paused)"
                .into(),
            CountryRefusal::UnknownCountry => "the number's country is unknown, and marketing \
                 goes only to the countries of campaigns.marketing_countries.allow"
                .into(),
        }
    }
}

/// May a template of `category` go to `recipient` under `rules`? Nothing to a sanctioned
/// country; marketing only to a country allowed (or not denied), never to a US number during
/// Meta's pause. Utility and authentication templates follow no marketing rule, and a BSUID
/// has no country (the consent ledger alone decides).
pub fn country_allows(
    rules: &CountryRules,
    category: Category,
    recipient: Recipient<'_>,
) -> Result<(), CountryRefusal> {
    let country = match recipient {
        Recipient::BsuidOnly => return Ok(()),
        Recipient::Number { country } => country,
    };
    if let Some(c) = country
        && SANCTIONED.contains(&c)
    {
        return Err(CountryRefusal::Sanctioned(c.to_string()));
    }
    if category != Category::Marketing {
        return Ok(());
    }
    let Some(c) = country else {
        return if rules.allow.is_empty() {
            Ok(())
        } else {
            Err(CountryRefusal::UnknownCountry)
        };
    };
    if rules.deny.contains(c) {
        return Err(CountryRefusal::Denied(c.to_string()));
    }
    if !rules.allow.is_empty() && !rules.allow.contains(c) {
        return Err(CountryRefusal::NotAllowed(c.to_string()));
    }
    if c == "US" && rules.us_marketing_paused {
        return Err(CountryRefusal::UsPaused);
    }
    Ok(())
}

/// The business portfolio's messaging limit: unique customers reached with a
/// business-initiated message (a template outside a customer-service window) per moving 24
/// hours, shared by all the portfolio's numbers. Meta's tiers: 250, 2,000, 10,000, 100,000,
/// unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum MessagingLimit {
    Customers(u32),
    Unlimited,
}

impl MessagingLimit {
    /// Meta's tiers.
    pub const TIERS: [u32; 4] = [250, 2_000, 10_000, 100_000];

    /// The window the limit counts over.
    pub const WINDOW_MS: i64 = 24 * 3_600_000;

    /// Meta's name of a tier, as the phone number's `whatsapp_business_manager_messaging_limit`
    /// field gives it (`TIER_250`, `TIER_2K`, `TIER_10K`, `TIER_100K`, `TIER_UNLIMITED`).
    pub fn from_meta(tier: &str) -> Option<MessagingLimit> {
        Some(match tier {
            "TIER_250" => MessagingLimit::Customers(250),
            "TIER_1K" => MessagingLimit::Customers(1_000),
            "TIER_2K" => MessagingLimit::Customers(2_000),
            "TIER_10K" => MessagingLimit::Customers(10_000),
            "TIER_100K" => MessagingLimit::Customers(100_000),
            "TIER_UNLIMITED" => MessagingLimit::Unlimited,
            _ => return None,
        })
    }
}

impl<'de> serde::Deserialize<'de> for MessagingLimit {
    /// `unlimited`, a number of customers (`2000`, also as a string from an environment
    /// variable), or Meta's tier name (`TIER_2K`).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        let bad = || {
            serde::de::Error::custom(
                "messaging_limit: `unlimited`, a positive number of customers, or a tier name \
                 like TIER_2K",
            )
        };
        let customers = |n: u64| match u32::try_from(n) {
            Ok(n) if n > 0 => Ok(MessagingLimit::Customers(n)),
            _ => Err(bad()),
        };
        match Raw::deserialize(deserializer)? {
            Raw::Number(n) => customers(n),
            Raw::Text(text) => {
                let text = text.trim();
                if text.eq_ignore_ascii_case("unlimited") {
                    Ok(MessagingLimit::Unlimited)
                } else if let Ok(n) = text.parse::<u64>() {
                    customers(n)
                } else {
                    MessagingLimit::from_meta(text).ok_or_else(bad)
                }
            }
        }
    }
}

/// Where the messaging limit comes from (`campaigns.messaging_limit`): `meta` (the default),
/// Meta's phone-number field `whatsapp_business_manager_messaging_limit`, read with each template
/// sync; or a fixed limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LimitSetting {
    #[default]
    Meta,
    Fixed(MessagingLimit),
}

impl LimitSetting {
    /// Until Meta's tier was read: its lowest tier (erring on the side of the limit).
    pub const UNREAD: MessagingLimit = MessagingLimit::Customers(250);

    /// The limit in effect, given the tier last read from Meta (if any).
    pub fn limit(self, read: Option<MessagingLimit>) -> MessagingLimit {
        match self {
            LimitSetting::Fixed(limit) => limit,
            LimitSetting::Meta => read.unwrap_or(Self::UNREAD),
        }
    }
}

impl<'de> serde::Deserialize<'de> for LimitSetting {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        if value
            .as_str()
            .is_some_and(|s| s.trim().eq_ignore_ascii_case("meta"))
        {
            return Ok(LimitSetting::Meta);
        }
        MessagingLimit::deserialize(value)
            .map(LimitSetting::Fixed)
            .map_err(serde::de::Error::custom)
    }
}

/// Does a message count toward the messaging limit? A template sent while the customer's
/// service window is closed (business-initiated); anything inside an open window is a reply.
pub fn counts_toward_limit(is_template: bool, window_open: bool) -> bool {
    is_template && !window_open
}

/// What the portfolio's reach answers a business-initiated send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// The customer is counted (already was within 24 hours, or now is).
    Counted,
    /// `limit` unique customers were reached within 24 hours: no new one before `retry_at`
    /// (unix ms, when the oldest of them leaves the window).
    Full { limit: u32, retry_at: i64 },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crm::contact::country_of;

    fn rules(allow: &[&str], deny: &[&str], us_paused: bool) -> CountryRules {
        CountryRules {
            allow: allow.iter().map(|s| s.to_string()).collect(),
            deny: deny.iter().map(|s| s.to_string()).collect(),
            us_marketing_paused: us_paused,
        }
    }

    fn number(digits: &str) -> (String, Option<String>) {
        (digits.to_string(), country_of(digits))
    }

    fn check(
        rules: &CountryRules,
        category: Category,
        address: &str,
    ) -> Result<(), CountryRefusal> {
        let (address, country) = number(address);
        country_allows(rules, category, Recipient::of(&address, country.as_deref()))
    }

    /// +1 numbers by country: New York, Toronto, Vancouver, Jamaica, Puerto Rico, the Bahamas.
    const NEW_YORK: &str = "12125550123";
    const TORONTO: &str = "14165550123";
    const VANCOUVER: &str = "16045550123";
    const JAMAICA: &str = "18765550123";
    const PUERTO_RICO: &str = "17875550123";
    const MADRID: &str = "34600000001";
    const HAVANA: &str = "5351234567";

    #[test]
    fn the_plus_one_countries_are_told_apart_by_number() {
        assert_eq!(country_of(NEW_YORK).as_deref(), Some("US"));
        assert_eq!(country_of(TORONTO).as_deref(), Some("CA"));
        assert_eq!(country_of(VANCOUVER).as_deref(), Some("CA"));
        assert_eq!(country_of(JAMAICA).as_deref(), Some("JM"));
        assert_eq!(country_of(PUERTO_RICO).as_deref(), Some("PR"));
        assert_eq!(country_of(MADRID).as_deref(), Some("ES"));
        assert_eq!(country_of(HAVANA).as_deref(), Some("CU"));
    }

    #[test]
    fn the_us_pause_stops_marketing_to_us_numbers_only() {
        let paused = rules(&[], &[], true);
        assert_eq!(
            check(&paused, Category::Marketing, NEW_YORK),
            Err(CountryRefusal::UsPaused)
        );
        for other in [TORONTO, VANCOUVER, JAMAICA, PUERTO_RICO, MADRID] {
            assert_eq!(
                check(&paused, Category::Marketing, other),
                Ok(()),
                "{other}"
            );
        }
        for category in [Category::Utility, Category::Authentication] {
            assert_eq!(check(&paused, category, NEW_YORK), Ok(()));
        }
        let lifted = rules(&[], &[], false);
        assert_eq!(check(&lifted, Category::Marketing, NEW_YORK), Ok(()));
    }

    #[test]
    fn allow_and_deny_lists_gate_marketing() {
        let deny = rules(&[], &["CA"], false);
        assert_eq!(
            check(&deny, Category::Marketing, TORONTO),
            Err(CountryRefusal::Denied("CA".into()))
        );
        assert_eq!(check(&deny, Category::Marketing, NEW_YORK), Ok(()));
        assert_eq!(check(&deny, Category::Utility, TORONTO), Ok(()));

        let allow = rules(&["ES", "US"], &[], true);
        assert_eq!(check(&allow, Category::Marketing, MADRID), Ok(()));
        assert_eq!(
            check(&allow, Category::Marketing, TORONTO),
            Err(CountryRefusal::NotAllowed("CA".into()))
        );
        // Allowed, yet paused.
        assert_eq!(
            check(&allow, Category::Marketing, NEW_YORK),
            Err(CountryRefusal::UsPaused)
        );
        // Deny wins over allow.
        let both = rules(&["ES"], &["ES"], false);
        assert_eq!(
            check(&both, Category::Marketing, MADRID),
            Err(CountryRefusal::Denied("ES".into()))
        );
    }

    #[test]
    fn a_number_of_no_known_country() {
        // +1 555: fictional numbers, no country's.
        let unknown = Recipient::Number { country: None };
        assert_eq!(
            country_allows(&rules(&[], &[], true), Category::Marketing, unknown),
            Ok(())
        );
        assert_eq!(
            country_allows(&rules(&["ES"], &[], true), Category::Marketing, unknown),
            Err(CountryRefusal::UnknownCountry)
        );
        assert_eq!(
            country_allows(&rules(&["ES"], &[], true), Category::Utility, unknown),
            Ok(())
        );
    }

    #[test]
    fn sanctioned_countries_get_nothing() {
        for category in [
            Category::Marketing,
            Category::Utility,
            Category::Authentication,
        ] {
            assert_eq!(
                check(&rules(&[], &[], false), category, HAVANA),
                Err(CountryRefusal::Sanctioned("CU".into()))
            );
            // Even when the configuration allows it.
            assert_eq!(
                check(&rules(&["CU"], &[], false), category, HAVANA),
                Err(CountryRefusal::Sanctioned("CU".into()))
            );
        }
    }

    #[test]
    fn a_bsuid_follows_no_country_rule() {
        let strict = rules(&["ES"], &["US"], true);
        for category in [
            Category::Marketing,
            Category::Utility,
            Category::Authentication,
        ] {
            assert_eq!(check(&strict, category, "US.13491208655302741918"), Ok(()));
        }
        assert_eq!(
            Recipient::of("US.13491208655302741918", None),
            Recipient::BsuidOnly
        );
    }

    #[test]
    fn every_refusal_has_a_code_and_a_message() {
        for refusal in [
            CountryRefusal::Sanctioned("CU".into()),
            CountryRefusal::Denied("CA".into()),
            CountryRefusal::NotAllowed("CA".into()),
            CountryRefusal::UsPaused,
            CountryRefusal::UnknownCountry,
        ] {
            assert!(!refusal.code().is_empty());
            assert!(refusal.message().len() > 20);
        }
    }

    #[test]
    fn what_counts_toward_the_messaging_limit() {
        assert!(counts_toward_limit(true, false));
        assert!(!counts_toward_limit(true, true));
        assert!(!counts_toward_limit(false, false));
        assert!(!counts_toward_limit(false, true));
    }

    #[test]
    fn the_limit_as_configured() {
        let read = |v: serde_json::Value| serde_json::from_value::<MessagingLimit>(v).ok();
        assert_eq!(
            read(serde_json::json!(250)),
            Some(MessagingLimit::Customers(250))
        );
        assert_eq!(
            read(serde_json::json!("2000")),
            Some(MessagingLimit::Customers(2_000))
        );
        assert_eq!(
            read(serde_json::json!("Unlimited")),
            Some(MessagingLimit::Unlimited)
        );
        assert_eq!(
            read(serde_json::json!("TIER_10K")),
            Some(MessagingLimit::Customers(10_000))
        );
        for bad in [
            serde_json::json!(0),
            serde_json::json!(-5),
            serde_json::json!("lots"),
            serde_json::json!(5_000_000_000u64),
        ] {
            assert_eq!(read(bad.clone()), None, "{bad}");
        }
    }

    #[test]
    fn the_limit_read_from_meta_or_fixed() {
        let read = |v: serde_json::Value| serde_json::from_value::<LimitSetting>(v).ok();
        assert_eq!(read(serde_json::json!("meta")), Some(LimitSetting::Meta));
        assert_eq!(
            read(serde_json::json!(2000)),
            Some(LimitSetting::Fixed(MessagingLimit::Customers(2_000)))
        );
        assert_eq!(
            read(serde_json::json!("unlimited")),
            Some(LimitSetting::Fixed(MessagingLimit::Unlimited))
        );
        assert_eq!(read(serde_json::json!("sometimes")), None);
        let tier = Some(MessagingLimit::Customers(10_000));
        assert_eq!(
            LimitSetting::Meta.limit(tier),
            MessagingLimit::Customers(10_000)
        );
        assert_eq!(LimitSetting::Meta.limit(None), LimitSetting::UNREAD);
        assert_eq!(
            LimitSetting::Fixed(MessagingLimit::Unlimited).limit(tier),
            MessagingLimit::Unlimited
        );
    }

    #[test]
    fn meta_tiers() {
        assert_eq!(
            MessagingLimit::from_meta("TIER_2K"),
            Some(MessagingLimit::Customers(2_000))
        );
        assert_eq!(
            MessagingLimit::from_meta("TIER_UNLIMITED"),
            Some(MessagingLimit::Unlimited)
        );
        assert_eq!(MessagingLimit::from_meta("TIER_3K"), None);
    }
}
