//! Routing rules: CEL expressions compiled once from configuration, evaluated in order.
//!
//! Pure code: no I/O, no actors. [`Rules::compile`] checks everything that can be checked up
//! front (syntax, teams, the lookups and variables a rule names); [`Rules::evaluate_rule`]
//! evaluates one rule against the [`RuleVars`] of one request. A rule that fails to evaluate,
//! or evaluates to something other than a boolean, does not match; the caller records why.
//!
//! The variables a rule sees are listed in the [module documentation](crate::routing).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue, operators};
use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelTimestamp,
    CelUInt,
};
use cel::common::value::Val;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::config::TeamSettings;
use crate::crm::behaviour::ContactBehaviour;
use crate::domain::TeamId;
use crate::routing::geo;
use crate::routing::{LookupSettings, RouteRequest, RoutingError, RuleSettings};
use crate::store::ContactRecord;

/// The variable holding lookup answers.
const LOOKUPS: &str = "lookups";
/// The variable holding the time of the evaluation (a CEL timestamp).
pub(crate) const NOW: &str = "now";
/// The variables a rule may name.
const VARIABLES: [&str; 4] = ["contact", "conversation", LOOKUPS, NOW];
/// CEL type identifiers, usable as values (`type(x) == string`).
const TYPE_NAMES: [&str; 11] = [
    "bool",
    "bytes",
    "double",
    "dyn",
    "int",
    "list",
    "map",
    "null_type",
    "string",
    "type",
    "uint",
];

/// One compiled rule.
#[derive(Debug)]
struct CompiledRule {
    name: String,
    team: Option<TeamId>,
    priority: Option<i32>,
    program: cel::Program,
    /// The lookups the rule reads, in name order.
    lookups: Vec<String>,
}

/// The configured rules, compiled, in evaluation order.
pub struct Rules {
    env: Arc<cel::Env>,
    rules: Vec<CompiledRule>,
    /// Every configured lookup: a lookup not provided to [`RuleVars::new`] is `null`.
    lookup_names: Vec<String>,
}

impl Rules {
    /// Compile `rules`: each `when` must parse, each `team` must be one of `teams`, and each
    /// rule may only name the variables `contact`, `conversation` and `lookups`, and only the
    /// configured `lookups`.
    pub fn compile(
        rules: &[RuleSettings],
        teams: &BTreeMap<String, TeamSettings>,
        lookups: &BTreeMap<String, LookupSettings>,
    ) -> Result<Rules, RoutingError> {
        let compiled = rules
            .iter()
            .map(|rule| compile_rule(rule, teams, lookups))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Rules {
            // `Program::compile` compiles for the standard environment: execute in it too.
            env: Arc::new(cel::Env::stdlib()),
            rules: compiled,
            lookup_names: lookups.keys().cloned().collect(),
        })
    }

    /// How many rules there are.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when no rule is configured.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The name of rule `i` (empty when out of range).
    pub fn name(&self, i: usize) -> &str {
        self.rules.get(i).map_or("", |r| r.name.as_str())
    }

    /// The team rule `i` routes to, if it names one.
    pub fn team(&self, i: usize) -> Option<&TeamId> {
        self.rules.get(i).and_then(|r| r.team.as_ref())
    }

    /// The priority rule `i` sets, if any.
    pub fn priority(&self, i: usize) -> Option<i32> {
        self.rules.get(i).and_then(|r| r.priority)
    }

    /// The lookups rule `i` reads (all of them when it reads `lookups` as a whole), in name
    /// order.
    pub fn lookups_of(&self, i: usize) -> &[String] {
        self.rules.get(i).map_or(&[], |r| r.lookups.as_slice())
    }

    /// Evaluate rule `i`: `Ok(true)` when it matches. An execution error, a non-boolean
    /// result or an index out of range is `Err` with a short reason (the rule does not match).
    pub fn evaluate_rule(&self, i: usize, vars: &RuleVars) -> Result<bool, String> {
        let rule = self.rules.get(i).ok_or_else(|| format!("no rule #{i}"))?;
        match rule.program.execute(&vars.context) {
            Ok(cel::Value::Bool(matched)) => Ok(matched),
            Ok(other) => Err(format!("evaluated to {}, not a boolean", other.type_of())),
            Err(e) => Err(e.to_string()),
        }
    }
}

impl std::fmt::Debug for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rules")
            .field("rules", &self.rules)
            .field("lookup_names", &self.lookup_names)
            .finish_non_exhaustive()
    }
}

fn compile_rule(
    rule: &RuleSettings,
    teams: &BTreeMap<String, TeamSettings>,
    lookups: &BTreeMap<String, LookupSettings>,
) -> Result<CompiledRule, RoutingError> {
    if let Some(team) = &rule.team
        && !teams.contains_key(team)
    {
        return Err(RoutingError::UnknownRuleTeam {
            rule: rule.name.clone(),
            team: team.clone(),
        });
    }
    let program = cel::Program::compile(&rule.when).map_err(|e| RoutingError::RuleSyntax {
        rule: rule.name.clone(),
        message: e.to_string(),
    })?;
    let mut refs = References::new(&VARIABLES);
    refs.scan(program.expression(), &mut Vec::new());
    if let Some(variable) = refs.unknown_variables.into_iter().next() {
        return Err(RoutingError::UnknownVariable {
            rule: rule.name.clone(),
            variable,
        });
    }
    if let Some(lookup) = refs
        .lookups
        .iter()
        .find(|name| !lookups.contains_key(*name))
    {
        return Err(RoutingError::UnknownLookup {
            rule: rule.name.clone(),
            lookup: lookup.clone(),
        });
    }
    let referenced = if refs.all_lookups {
        lookups.keys().cloned().collect()
    } else {
        refs.lookups.into_iter().collect()
    };
    Ok(CompiledRule {
        name: rule.name.clone(),
        team: rule.team.as_deref().map(TeamId::new),
        priority: rule.priority,
        program,
        lookups: referenced,
    })
}

/// What an expression reads: `lookups.<name>` / `lookups["<name>"]`, `lookups` as a whole
/// (any other use of it), and unknown top-level names.
struct References {
    /// The variables the expression may name.
    variables: &'static [&'static str],
    lookups: BTreeSet<String>,
    all_lookups: bool,
    unknown_variables: BTreeSet<String>,
}

/// The first name `program` reads that is neither one of `variables` nor a CEL type name.
pub(crate) fn unknown_variable(
    program: &cel::Program,
    variables: &'static [&'static str],
) -> Option<String> {
    let mut refs = References::new(variables);
    refs.scan(program.expression(), &mut Vec::new());
    refs.unknown_variables.into_iter().next()
}

impl References {
    fn new(variables: &'static [&'static str]) -> Self {
        Self {
            variables,
            lookups: BTreeSet::new(),
            all_lookups: false,
            unknown_variables: BTreeSet::new(),
        }
    }

    /// Walk `expr`; `bound` holds the names comprehensions (`exists`, `map`, ...) declare.
    fn scan<'e>(&mut self, expr: &'e IdedExpr, bound: &mut Vec<&'e str>) {
        let lookups_known = self.variables.contains(&LOOKUPS);
        let is_lookups = |e: &IdedExpr, bound: &[&str]| {
            lookups_known
                && matches!(&e.expr, Expr::Ident(name) if name == LOOKUPS)
                && !bound.contains(&LOOKUPS)
        };
        match &expr.expr {
            Expr::Unspecified | Expr::Literal(_) => {}
            Expr::Ident(name) => {
                if bound.contains(&name.as_str()) || name.starts_with('@') {
                    // A comprehension variable, or one of the parser's internal names.
                } else if name == LOOKUPS && self.variables.contains(&LOOKUPS) {
                    self.all_lookups = true;
                } else if !self.variables.contains(&name.as_str())
                    && !TYPE_NAMES.contains(&name.as_str())
                {
                    self.unknown_variables.insert(name.clone());
                }
            }
            Expr::Select(select) => {
                if is_lookups(&select.operand, bound) {
                    self.lookups.insert(select.field.clone());
                } else {
                    self.scan(&select.operand, bound);
                }
            }
            Expr::Call(call) => {
                if call.func_name == operators::INDEX
                    && let [target, key] = call.args.as_slice()
                    && is_lookups(target, bound)
                    && let Expr::Literal(LiteralValue::String(name)) = &key.expr
                {
                    self.lookups.insert(name.inner().to_string());
                    return;
                }
                if let Some(target) = &call.target {
                    self.scan(target, bound);
                }
                for arg in &call.args {
                    self.scan(arg, bound);
                }
            }
            Expr::Comprehension(comp) => {
                self.scan(&comp.iter_range, bound);
                self.scan(&comp.accu_init, bound);
                let before = bound.len();
                bound.push(comp.iter_var.as_str());
                if let Some(second) = &comp.iter_var2 {
                    bound.push(second.as_str());
                }
                bound.push(comp.accu_var.as_str());
                self.scan(&comp.loop_cond, bound);
                self.scan(&comp.loop_step, bound);
                self.scan(&comp.result, bound);
                bound.truncate(before);
            }
            Expr::List(list) => {
                for element in &list.elements {
                    self.scan(element, bound);
                }
            }
            Expr::Map(map) => self.scan_entries(map.entries.iter().map(|e| &e.expr), bound),
            Expr::Struct(st) => self.scan_entries(st.entries.iter().map(|e| &e.expr), bound),
        }
    }

    fn scan_entries<'e>(
        &mut self,
        entries: impl Iterator<Item = &'e EntryExpr>,
        bound: &mut Vec<&'e str>,
    ) {
        for entry in entries {
            match entry {
                EntryExpr::StructField(field) => self.scan(&field.value, bound),
                EntryExpr::MapEntry(pair) => {
                    self.scan(&pair.key, bound);
                    self.scan(&pair.value, bound);
                }
            }
        }
    }
}

/// `contact` as rules and lookup URL templates see it.
#[derive(Debug, Serialize)]
pub(crate) struct ContactVars<'a> {
    customer: &'a str,
    name: Option<&'a str>,
    phone: Option<&'a str>,
    language: Option<&'a str>,
    tags: &'a [String],
    fields: &'a BTreeMap<String, String>,
    location: Option<LocationVars>,
    /// ISO 3166-1 alpha-2 of the phone number (`crm::contact::country_of`), or null.
    country: Option<String>,
    /// What the contact did ([`ContactBehaviour`]): timestamps, or null.
    first_seen: Option<DateTime<Utc>>,
    last_inbound_at: Option<DateTime<Utc>>,
    conversations: i64,
    /// A first conversation.
    new: bool,
}

/// `contact.location`.
#[derive(Debug, Serialize)]
struct LocationVars {
    latitude: f64,
    longitude: f64,
}

impl<'a> ContactVars<'a> {
    pub(crate) fn of(contact: &'a ContactRecord, behaviour: &ContactBehaviour) -> Self {
        let location =
            geo::contact_location(contact)
                .ok()
                .flatten()
                .map(|(latitude, longitude)| LocationVars {
                    latitude,
                    longitude,
                });
        ContactVars {
            customer: contact.customer.as_str(),
            name: contact.name.as_deref(),
            phone: contact.phone.as_deref(),
            language: contact.language.as_deref(),
            tags: &contact.tags,
            fields: &contact.fields,
            location,
            country: contact
                .phone
                .as_deref()
                .and_then(crate::crm::contact::country_of),
            first_seen: behaviour
                .first_seen
                .and_then(DateTime::from_timestamp_millis),
            last_inbound_at: behaviour
                .last_inbound_at
                .and_then(DateTime::from_timestamp_millis),
            conversations: behaviour.conversations,
            new: behaviour.is_new(),
        }
    }

    /// The same shape as its serde form, as a CEL value borrowing from the contact.
    pub(crate) fn to_cel(&self) -> Cel<'a> {
        let location = match &self.location {
            Some(l) => cel_map([
                ("latitude", Box::new(CelDouble::from(l.latitude)) as Cel<'a>),
                ("longitude", Box::new(CelDouble::from(l.longitude))),
            ]),
            None => Box::new(CelNull),
        };
        let tags: Vec<Cel<'a>> = self.tags.iter().map(|t| cel_str(t)).collect();
        let fields = cel_map(self.fields.iter().map(|(k, v)| (k.as_str(), cel_str(v))));
        cel_map([
            ("customer", cel_str(self.customer)),
            ("name", cel_opt_str(self.name)),
            ("phone", cel_opt_str(self.phone)),
            ("language", cel_opt_str(self.language)),
            ("tags", Box::new(CelList::from(tags))),
            ("fields", fields),
            ("location", location),
            (
                "country",
                match &self.country {
                    Some(c) => Box::new(CelString::from(c.clone())) as Cel<'a>,
                    None => Box::new(CelNull),
                },
            ),
            ("first_seen", cel_time(self.first_seen)),
            ("last_inbound_at", cel_time(self.last_inbound_at)),
            ("conversations", Box::new(CelInt::from(self.conversations))),
            ("new", Box::new(CelBool::from(self.new))),
        ])
    }
}

/// `conversation` as rules and lookup URL templates see it.
#[derive(Debug, Serialize)]
pub(crate) struct ConversationVars<'a> {
    id: &'a str,
    channel: &'a str,
    choice: Option<&'a str>,
    reason: &'a str,
}

impl<'a> ConversationVars<'a> {
    pub(crate) fn of(req: &'a RouteRequest) -> Self {
        ConversationVars {
            id: &req.conversation_id,
            channel: req.channel.as_str(),
            choice: req.choice.as_ref().map(|t| t.as_str()),
            reason: &req.reason,
        }
    }

    /// The same shape as its serde form, as a CEL value borrowing from the request.
    fn to_cel(&self) -> Cel<'a> {
        cel_map([
            ("id", cel_str(self.id)),
            ("channel", cel_str(self.channel)),
            ("choice", cel_opt_str(self.choice)),
            ("reason", cel_str(self.reason)),
        ])
    }
}

/// The variables of one request, bound once and shared by the rules evaluated against them.
/// They borrow from the request and the lookup answers (no copies of the strings).
pub struct RuleVars<'a> {
    context: cel::Context<'a, 'a>,
}

impl<'a> RuleVars<'a> {
    /// Bind `contact` and `conversation` from `req`, and `lookups` from `lookups` (a configured
    /// lookup missing from it is `null`; unconfigured names are ignored).
    pub fn new(
        rules: &'a Rules,
        req: &'a RouteRequest,
        lookups: &'a BTreeMap<String, Value>,
    ) -> RuleVars<'a> {
        let answers = cel_map(rules.lookup_names.iter().map(|name| {
            let answer = lookups
                .get(name)
                .map_or_else(|| Box::new(CelNull) as Cel<'a>, json_to_cel);
            (name.as_str(), answer)
        }));
        let mut context = cel::Context::with_env(Arc::clone(&rules.env));
        context.add_variable_as_val(
            "contact",
            ContactVars::of(&req.contact, &req.behaviour).to_cel(),
        );
        context.add_variable_as_val(NOW, cel_time(Some(Utc::now())));
        context.add_variable_as_val("conversation", ConversationVars::of(req).to_cel());
        context.add_variable_as_val(LOOKUPS, answers);
        RuleVars { context }
    }
}

impl std::fmt::Debug for RuleVars<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleVars").finish_non_exhaustive()
    }
}

/// A CEL value, possibly borrowing.
pub(crate) type Cel<'a> = Box<dyn Val + 'a>;

fn cel_str(s: &str) -> Cel<'_> {
    Box::new(CelString::from(s))
}

/// A timestamp, or null.
pub(crate) fn cel_time<'a>(t: Option<DateTime<Utc>>) -> Cel<'a> {
    t.map_or_else(
        || Box::new(CelNull) as Cel<'a>,
        |t| Box::new(CelTimestamp::from(t.fixed_offset())),
    )
}

fn cel_opt_str(s: Option<&str>) -> Cel<'_> {
    s.map_or_else(|| Box::new(CelNull) as Cel<'_>, cel_str)
}

fn cel_map<'a>(entries: impl IntoIterator<Item = (&'a str, Cel<'a>)>) -> Cel<'a> {
    let map: HashMap<CelMapKey<'a>, Cel<'a>> = entries
        .into_iter()
        .map(|(k, v)| (CelMapKey::from(k), v))
        .collect();
    Box::new(CelMap::from(map))
}

/// A JSON value as CEL sees it: objects are maps, arrays lists, integers `int` (or `uint`
/// beyond `int`), other numbers `double` (what `cel::to_value` gives for the JSON, but
/// borrowing instead of copying; non-negative integers are `int`, which CEL compares freely
/// with `uint` and `double`).
fn json_to_cel(value: &Value) -> Cel<'_> {
    match value {
        Value::Null => Box::new(CelNull),
        Value::Bool(b) => Box::new(CelBool::from(*b)),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Box::new(CelInt::from(i))
            } else if let Some(u) = n.as_u64() {
                Box::new(CelUInt::from(u))
            } else {
                Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN)))
            }
        }
        Value::String(s) => cel_str(s),
        Value::Array(items) => Box::new(CelList::from(
            items.iter().map(json_to_cel).collect::<Vec<_>>(),
        )),
        Value::Object(map) => cel_map(map.iter().map(|(k, v)| (k.as_str(), json_to_cel(v)))),
    }
}
