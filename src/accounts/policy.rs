//! Who may do what: one pure function, [`decide`], asked by every REST handler and before
//! every websocket event is delivered. No I/O, no clock: the caller gathers the facts (the
//! principal, the conversation's team, assignee and the team's privacy) and acts on the
//! [`Verdict`].
//!
//! Roles:
//! - **agent**: sees their teams' inboxes (not a private team's: there only what is assigned or
//!   offered to them) and their own conversations; replies, notes, transfers, resolves and
//!   snoozes what they are assigned; accepts or rejects what is offered to them.
//! - **supervisor**: everything of the teams they supervise, private ones included: any
//!   conversation, reassign/transfer/resolve/note any, presence and load of the teams' agents,
//!   force an agent's presence, the teams' reports, reveal a masked number. Replying and
//!   snoozing stay with whoever holds the conversation (a supervisor takes it first). Anything
//!   of other teams: as an agent (they may also be a member somewhere).
//! - **admin**: everything, including users, teams, roles, settings, API tokens and the audit
//!   log.
//!
//! Contacts ([`decide_contacts`]): supervisors and admins browse, search and edit the whole
//! CRM; an agent reads and edits a contact only through a conversation of it they may open.
//!
//! Masked numbers: where a team masks customers' numbers (its own setting, else the global
//! default), every ordinary view shows them masked, whatever the role; a supervisor of the team
//! or an admin can reveal one on purpose ([`Action::RevealNumber`], audited). Nobody sees a
//! masked number by accident.
//!
//! API keys ([`decide_business`]): a business system's key is a principal of its own, not a
//! user. It may do exactly what its scopes name, on the whole deployment (a key serves no team),
//! and nothing else: never a console-only route (the websocket, presence, the inbox), never
//! the administration. A person on the same business routes is decided by their role as
//! everywhere else.
//!
//! A [`Verdict::Hidden`] answer means the principal may not even know the thing exists (the API
//! answers 404); [`Verdict::Forbidden`] that they may see it but not do this (403).

use crate::domain::{AgentId, TeamId};

use super::model::Role;

/// Who is asking: a user, with their role and teams, read from the directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub user: AgentId,
    pub role: Role,
    /// Teams the user serves (member), ascending.
    pub member_of: Vec<TeamId>,
    /// Teams the user supervises, ascending.
    pub supervises: Vec<TeamId>,
}

impl Principal {
    pub fn is_member(&self, team: &TeamId) -> bool {
        self.member_of.binary_search(team).is_ok()
    }

    /// Whether the user manages `team`: an admin, or a supervisor of it.
    pub fn manages(&self, team: &TeamId) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Supervisor => self.supervises.binary_search(team).is_ok(),
            Role::Agent => false,
        }
    }
}

/// What is known about a conversation when deciding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConversationFacts<'a> {
    pub team: Option<&'a TeamId>,
    /// Its team is a private inbox.
    pub team_private: bool,
    pub assignee: Option<&'a AgentId>,
    /// It is offered to the principal right now.
    pub offered_to_principal: bool,
}

/// What the principal wants to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Open the conversation (its messages, contact, history); also: receive its events.
    View,
    /// Send the customer a message.
    Reply,
    /// Write a private note.
    Note,
    /// Transfer to a team or an agent.
    Transfer,
    Resolve,
    Snooze,
    /// Accept or reject an offer (whether one is open to the principal is checked when it is
    /// answered).
    AnswerOffer,
    /// See a masked number in clear (audited).
    RevealNumber,
}

impl Action {
    pub const ALL: [Action; 8] = [
        Action::View,
        Action::Reply,
        Action::Note,
        Action::Transfer,
        Action::Resolve,
        Action::Snooze,
        Action::AnswerOffer,
        Action::RevealNumber,
    ];
}

/// Actions on a team rather than on one conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TeamAction {
    /// List the team's conversations and see its queue.
    ListInbox,
    /// See its agents' presence and load.
    ViewAgents,
    /// Set one of its agents' presence.
    ForcePresence,
    ViewReports,
}

impl TeamAction {
    pub const ALL: [TeamAction; 4] = [
        TeamAction::ListInbox,
        TeamAction::ViewAgents,
        TeamAction::ForcePresence,
        TeamAction::ViewReports,
    ];
}

/// Administration of the whole deployment: admins only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AdminAction {
    ManageUsers,
    ManageTeams,
    ManageTokens,
    ViewAudit,
    ReloadConfiguration,
    /// Event webhooks: endpoints, secrets, the delivery log and replays.
    ManageWebhooks,
    /// Business systems' API keys: create, rotate, revoke.
    ManageApiKeys,
    /// Panel apps: registrations and their secrets.
    ManagePanelApps,
    /// Custom contact field definitions: create, change, delete.
    ManageContactFields,
}

impl AdminAction {
    pub const ALL: [AdminAction; 9] = [
        AdminAction::ManageUsers,
        AdminAction::ManageTeams,
        AdminAction::ManageTokens,
        AdminAction::ViewAudit,
        AdminAction::ReloadConfiguration,
        AdminAction::ManageWebhooks,
        AdminAction::ManageApiKeys,
        AdminAction::ManagePanelApps,
        AdminAction::ManageContactFields,
    ];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// May see it, may not do this: 403.
    Forbidden,
    /// May not know it exists: 404.
    Hidden,
}

impl Verdict {
    pub fn allowed(self) -> bool {
        self == Verdict::Allow
    }
}

/// Whether the principal may see the conversation at all.
fn sees(p: &Principal, c: &ConversationFacts<'_>) -> bool {
    if c.assignee == Some(&p.user) || c.offered_to_principal {
        return true;
    }
    match c.team {
        Some(team) => p.manages(team) || (p.is_member(team) && !c.team_private),
        // A conversation without a team (still with the bot) belongs to nobody's inbox.
        None => p.role == Role::Admin,
    }
}

/// May `p` do `action` to the conversation described by `c`?
pub fn decide(p: &Principal, action: Action, c: &ConversationFacts<'_>) -> Verdict {
    if !sees(p, c) {
        return Verdict::Hidden;
    }
    let holds = c.assignee == Some(&p.user);
    let manages = c.team.is_some_and(|t| p.manages(t)) || p.role == Role::Admin;
    let allowed = match action {
        Action::View => true,
        Action::Reply | Action::Snooze => holds,
        Action::Note | Action::Transfer | Action::Resolve => holds || manages,
        // Whether an offer to the principal is open is the assignment state's to say, at
        // the moment it is answered: one that lapsed is a conflict (409), not a permission.
        Action::AnswerOffer => true,
        Action::RevealNumber => manages,
    };
    if allowed {
        Verdict::Allow
    } else {
        Verdict::Forbidden
    }
}

/// May `p` do `action` to `team` (whose privacy is `private`)?
pub fn decide_team(p: &Principal, action: TeamAction, team: &TeamId, private: bool) -> Verdict {
    if p.manages(team) {
        return Verdict::Allow;
    }
    if !p.is_member(team) {
        return Verdict::Hidden;
    }
    match action {
        TeamAction::ListInbox if !private => Verdict::Allow,
        // Teammates see each other's presence and load (to transfer to someone available).
        TeamAction::ViewAgents => Verdict::Allow,
        _ => Verdict::Forbidden,
    }
}

/// What one may do with the CRM's contacts as a whole (not through a conversation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContactsAction {
    /// List and search every contact.
    Browse,
    /// Read, edit or merge any contact.
    Edit,
    /// Erase a contact's personal data (irreversible): admins only.
    Erase,
}

impl ContactsAction {
    pub const ALL: [ContactsAction; 3] = [
        ContactsAction::Browse,
        ContactsAction::Edit,
        ContactsAction::Erase,
    ];
}

/// May `p` do `action` to every contact? (An agent may still reach a contact through a
/// conversation of it they may open: the caller checks that with [`decide`].)
pub fn decide_contacts(p: &Principal, action: ContactsAction) -> Verdict {
    match (p.role, action) {
        (Role::Admin, _) => Verdict::Allow,
        (Role::Supervisor, ContactsAction::Browse | ContactsAction::Edit) => Verdict::Allow,
        (Role::Supervisor, ContactsAction::Erase) | (Role::Agent, _) => Verdict::Forbidden,
    }
}

/// Whose reports a principal may read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReportScope {
    /// Every team's, and those of conversations of no team (the bot's alone): admins.
    All,
    /// The teams supervised (ascending): supervisors.
    Teams(Vec<TeamId>),
    /// None (403): agents.
    Forbidden,
}

/// Which reports `p` may read ([`TeamAction::ViewReports`] for every team at once).
pub fn report_scope(p: &Principal) -> ReportScope {
    match p.role {
        Role::Admin => ReportScope::All,
        Role::Supervisor => ReportScope::Teams(p.supervises.clone()),
        Role::Agent => ReportScope::Forbidden,
    }
}

/// May `p` administer the deployment this way?
pub fn decide_admin(p: &Principal, _action: AdminAction) -> Verdict {
    if p.role == Role::Admin {
        Verdict::Allow
    } else {
        Verdict::Forbidden
    }
}

/// What an API key may be allowed, exactly the business API's list. `reports:read` and
/// `campaigns:write` are accepted (a key can be made ready for them) and open no route yet;
/// `messages:send` opens sending to a contact and handing a conversation to a team.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    ContactsRead,
    ContactsWrite,
    ConversationsRead,
    MessagesSend,
    WebhooksManage,
    ReportsRead,
    CampaignsWrite,
}

impl Scope {
    pub const ALL: [Scope; 7] = [
        Scope::ContactsRead,
        Scope::ContactsWrite,
        Scope::ConversationsRead,
        Scope::MessagesSend,
        Scope::WebhooksManage,
        Scope::ReportsRead,
        Scope::CampaignsWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ContactsRead => "contacts:read",
            Scope::ContactsWrite => "contacts:write",
            Scope::ConversationsRead => "conversations:read",
            Scope::MessagesSend => "messages:send",
            Scope::WebhooksManage => "webhooks:manage",
            Scope::ReportsRead => "reports:read",
            Scope::CampaignsWrite => "campaigns:write",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }
}

/// A business system's API key as a principal: its id and its scopes (ascending, no repeats).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPrincipal {
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
}

impl KeyPrincipal {
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.binary_search(&scope).is_ok()
    }
}

/// Who asks on a route that takes either a person or an API key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who<'a> {
    Person(&'a Principal),
    Key(&'a KeyPrincipal),
}

/// What a business system does through the API (a person may do the same on these routes, as
/// their role allows).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BusinessAction {
    /// List, search and read every contact.
    ReadContacts,
    /// Edit and upsert contacts (their tags and fields reach routing at once).
    WriteContacts,
    /// Event webhooks: endpoints, secrets, the delivery log and replays.
    ManageWebhooks,
    /// List and open conversations (a person: which ones is [`decide`]'s, per conversation).
    ReadConversations,
    /// Send a message to a contact on a channel (free text inside the channel's window, a
    /// template outside it). People reply through the console's routes instead.
    SendMessages,
    /// Hand a conversation to a team (the bot stops, routing and assignment take over). The
    /// issue's fixed scopes have no `conversations:write`: this is `messages:send`, the scope
    /// that already lets a key speak to the customer in the conversation. People transfer
    /// through the console's routes instead.
    HandOff,
}

impl BusinessAction {
    pub const ALL: [BusinessAction; 6] = [
        BusinessAction::ReadContacts,
        BusinessAction::WriteContacts,
        BusinessAction::ManageWebhooks,
        BusinessAction::ReadConversations,
        BusinessAction::SendMessages,
        BusinessAction::HandOff,
    ];

    /// The scope a key needs for it.
    pub fn scope(self) -> Scope {
        match self {
            BusinessAction::ReadContacts => Scope::ContactsRead,
            BusinessAction::WriteContacts => Scope::ContactsWrite,
            BusinessAction::ManageWebhooks => Scope::WebhooksManage,
            BusinessAction::ReadConversations => Scope::ConversationsRead,
            BusinessAction::SendMessages | BusinessAction::HandOff => Scope::MessagesSend,
        }
    }
}

/// May `who` do `action` on the whole deployment? A key: exactly when it holds the action's
/// scope. A person: as their role allows ([`decide_contacts`] for contacts, [`decide_admin`] for
/// webhooks; an agent still reaches a contact through a conversation, which the caller checks
/// with [`decide`]; conversations: any person, each one then decided by [`decide`]; sending and
/// handing off: nobody, since people reply and transfer through the console's routes, where
/// [`decide`] weighs each conversation).
pub fn decide_business(who: Who<'_>, action: BusinessAction) -> Verdict {
    match who {
        Who::Key(key) => {
            if key.has(action.scope()) {
                Verdict::Allow
            } else {
                Verdict::Forbidden
            }
        }
        Who::Person(p) => match action {
            BusinessAction::ReadContacts => decide_contacts(p, ContactsAction::Browse),
            BusinessAction::WriteContacts => decide_contacts(p, ContactsAction::Edit),
            BusinessAction::ManageWebhooks => decide_admin(p, AdminAction::ManageWebhooks),
            // Every person has an inbox; which conversations is decided one by one.
            BusinessAction::ReadConversations => Verdict::Allow,
            // A person's reply or transfer is decided per conversation on the console's routes.
            BusinessAction::SendMessages | BusinessAction::HandOff => Verdict::Forbidden,
        },
    }
}

/// What a person or a business system does with templates and the consent ledger
/// (docs/CAMPAIGNS.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CampaignAction {
    /// List the synced WhatsApp templates.
    ViewTemplates,
    /// Sync them from Meta now.
    SyncTemplates,
    /// Export the whole consent ledger (CSV).
    ExportConsent,
    /// Fill a template with parameters and see it (`POST /templates/preview`).
    PreviewTemplates,
    /// See campaigns, their counts and their recipients.
    ViewCampaigns,
    /// Create, preview, start, pause, resume and cancel campaigns.
    RunCampaigns,
}

impl CampaignAction {
    pub const ALL: [CampaignAction; 6] = [
        CampaignAction::ViewTemplates,
        CampaignAction::SyncTemplates,
        CampaignAction::ExportConsent,
        CampaignAction::PreviewTemplates,
        CampaignAction::ViewCampaigns,
        CampaignAction::RunCampaigns,
    ];
}

/// May `who` do `action`? Templates are listed by supervisors, admins and keys that send
/// (`messages:send`) or run campaigns (`campaigns:write`); a sync, the ledger's export and
/// running campaigns are admins' and `campaigns:write` keys' (supervisors see campaigns); a template is filled and previewed by everyone signed in
/// (an agent sends one from the composer) and by the keys that list them. (A contact's own consent is read and recorded through
/// the contact, as [`decide_business`] and [`decide_contacts`] say.)
pub fn decide_campaigns(who: Who<'_>, action: CampaignAction) -> Verdict {
    let allowed = match (who, action) {
        (Who::Person(p), CampaignAction::ViewTemplates | CampaignAction::ViewCampaigns) => {
            matches!(p.role, Role::Admin | Role::Supervisor)
        }
        // Agents fill templates in their conversations' composer.
        (Who::Person(_), CampaignAction::PreviewTemplates) => true,
        (
            Who::Person(p),
            CampaignAction::SyncTemplates
            | CampaignAction::ExportConsent
            | CampaignAction::RunCampaigns,
        ) => p.role == Role::Admin,
        (Who::Key(k), CampaignAction::ViewTemplates | CampaignAction::PreviewTemplates) => {
            k.has(Scope::MessagesSend) || k.has(Scope::CampaignsWrite)
        }
        (
            Who::Key(k),
            CampaignAction::SyncTemplates
            | CampaignAction::ExportConsent
            | CampaignAction::ViewCampaigns
            | CampaignAction::RunCampaigns,
        ) => k.has(Scope::CampaignsWrite),
    };
    if allowed {
        Verdict::Allow
    } else {
        Verdict::Forbidden
    }
}

#[cfg(test)]
mod campaign_tests {
    use super::*;

    #[test]
    fn campaign_actions_as_a_full_matrix() {
        let person = |role| Principal {
            user: AgentId::new("u"),
            role,
            member_of: Vec::new(),
            supervises: Vec::new(),
        };
        let key = |scopes: &[Scope]| {
            let mut scopes = scopes.to_vec();
            scopes.sort();
            KeyPrincipal {
                id: "k".into(),
                name: "k".into(),
                scopes,
            }
        };
        use CampaignAction::*;
        for action in CampaignAction::ALL {
            for (role, expected) in [
                (Role::Agent, action == PreviewTemplates),
                (
                    Role::Supervisor,
                    matches!(action, ViewTemplates | PreviewTemplates | ViewCampaigns),
                ),
                (Role::Admin, true),
            ] {
                let p = person(role);
                assert_eq!(
                    decide_campaigns(Who::Person(&p), action).allowed(),
                    expected,
                    "{role:?} {action:?}"
                );
            }
            for scope in Scope::ALL {
                let k = key(&[scope]);
                let expected = match action {
                    ViewTemplates | PreviewTemplates => {
                        matches!(scope, Scope::MessagesSend | Scope::CampaignsWrite)
                    }
                    SyncTemplates | ExportConsent | ViewCampaigns | RunCampaigns => {
                        scope == Scope::CampaignsWrite
                    }
                };
                assert_eq!(
                    decide_campaigns(Who::Key(&k), action).allowed(),
                    expected,
                    "{scope:?} {action:?}"
                );
            }
            assert!(!decide_campaigns(Who::Key(&key(&[])), action).allowed());
        }
    }
}

#[cfg(test)]
mod tests;
