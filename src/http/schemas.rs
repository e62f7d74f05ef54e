//! Schemas of the API's answers, for the OpenAPI document only: the handlers build their
//! bodies with `serde_json::json!`, and these types describe those bodies' fields (required
//! where the server always sends them, nullable where it may send `null`). `tests/openapi.rs`
//! checks the real answers against them.

use std::collections::BTreeMap;

use utoipa::ToSchema;

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AuditEntry {
    action: String,
    actor: Option<String>,
    actor_kind: String,
    address: Option<String>,
    #[schema(value_type = Option<Object>)]
    after: Option<BTreeMap<String, serde_json::Value>>,
    at: i64,
    #[schema(value_type = Option<Object>)]
    before: Option<BTreeMap<String, serde_json::Value>>,
    id: i64,
    target: Option<String>,
    target_kind: Option<String>,
    token: Option<String>,
    user_agent: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AdminAuditResponse {
    entries: Vec<AuditEntry>,
    next: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TeamOverflow {
    after_seconds: i64,
    team: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AdminTeam {
    business_hours: Option<serde_json::Value>,
    created_at: i64,
    description: Option<String>,
    id: String,
    mask_numbers: Option<String>,
    max_queue: i64,
    members: Vec<String>,
    name: Option<String>,
    offer_timeout_seconds: i64,
    overflow: Option<TeamOverflow>,
    private: bool,
    /// The team's own SLA policies (empty: the configured ones apply).
    sla: Vec<crate::accounts::model::TeamSlaPolicy>,
    strategy: String,
    supervisors: Vec<String>,
    updated_at: i64,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ContactFieldsListResponse {
    fields: Vec<crate::crm::fields::FieldDefinition>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ContactFieldResponse {
    field: crate::crm::fields::FieldDefinition,
    /// Bot questions saving answers the fields now defined cannot hold.
    warnings: Vec<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AdminListTeamsResponse {
    /// The priorities the routing can give a conversation (an SLA policy names one of them).
    sla_priorities: Vec<i64>,
    teams: Vec<AdminTeam>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PersonalToken {
    created_at: i64,
    id: String,
    last_used_at: Option<i64>,
    name: Option<String>,
    revoked_at: Option<i64>,
    user: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AdminListTokensResponse {
    tokens: Vec<PersonalToken>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AdminUser {
    active: bool,
    capacity: i64,
    created_at: i64,
    email: Option<String>,
    has_password: bool,
    id: String,
    language: Option<String>,
    locked_until: Option<i64>,
    name: Option<String>,
    role: String,
    supervises: Vec<String>,
    teams: Vec<Option<String>>,
    time_zone: Option<String>,
    updated_at: i64,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AdminListUsersResponse {
    users: Vec<AdminUser>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AdminGetUserResponse {
    user: AdminUser,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AdminUpdateTeamResponse {
    team: AdminTeam,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AdminUpdateUserResponse {
    user: AdminUser,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ReloadFlows {
    added: Vec<String>,
    changed: Vec<String>,
    removed: Vec<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ReloadOutcome {
    fingerprint: String,
    flows: ReloadFlows,
    needs_restart: Vec<String>,
    previous_fingerprint: String,
    routing: Vec<String>,
    rules: ReloadFlows,
    steps: ReloadFlows,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AdminReloadResponse {
    reload: ReloadOutcome,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AdminCreateTeamResponse {
    team: AdminTeam,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UserInvite {
    expires_at: Option<i64>,
    token: String,
    url: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AdminCreateUserResponse {
    invite: UserInvite,
    user: AdminUser,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AdminForceLogoutResponse {
    ended: i64,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AdminResetLinkResponse {
    reset: UserInvite,
}
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ApiKeyView {
    active: bool,
    created_at: i64,
    created_by: Option<String>,
    id: String,
    last_used_at: Option<i64>,
    name: Option<String>,
    revoked_at: Option<i64>,
    rotated_at: Option<i64>,
    scopes: Vec<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ApiKeysRevokeResponse {
    api_key: ApiKeyView,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ApiKeysListResponse {
    api_keys: Vec<ApiKeyView>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ApiKeysShowResponse {
    api_key: ApiKeyView,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ApiKeysCreateResponseApiKey {
    active: bool,
    created_at: i64,
    created_by: Option<String>,
    id: String,
    last_used_at: Option<i64>,
    name: Option<String>,
    revoked_at: Option<i64>,
    rotated_at: Option<i64>,
    scopes: Vec<String>,
    token: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ApiKeysCreateResponse {
    api_key: ApiKeysCreateResponseApiKey,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ApiKeysRotateResponse {
    api_key: ApiKeysCreateResponseApiKey,
}
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AuthApiEndAllSessionsResponse {
    ended: i64,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SessionView {
    address: Option<String>,
    created_at: i64,
    current: bool,
    expires_at: Option<i64>,
    id: String,
    last_seen_at: Option<i64>,
    user_agent: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AuthApiSessionsResponse {
    sessions: Vec<SessionView>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AuthApiMyTokensResponse {
    tokens: Vec<PersonalToken>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AuthApiLoginResponseUser {
    email: Option<String>,
    id: String,
    language: Option<String>,
    name: Option<String>,
    role: String,
    time_zone: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AuthApiLoginResponse {
    expires_at: Option<i64>,
    token: String,
    user: AuthApiLoginResponseUser,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AuthApiCreateTokenResponseToken {
    created_at: i64,
    id: String,
    last_used_at: Option<i64>,
    name: Option<String>,
    revoked_at: Option<i64>,
    token: String,
    user: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AuthApiCreateTokenResponse {
    token: AuthApiCreateTokenResponseToken,
}
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ConversationCustomer {
    id: String,
    name: Option<String>,
    phone: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ConversationRoute {
    preferred_agent: Option<String>,
    priority: i64,
    team: Option<String>,
    trace: Vec<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct MessagingWindow {
    closes_at: Option<i64>,
    open: bool,
    rule: String,
    tagged: bool,
    tagged_from: Option<i64>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ConsoleListResponseConversation {
    assigned_at: Option<i64>,
    assignee: Option<String>,
    channel: Option<String>,
    channel_kind: String,
    created_at: i64,
    customer: ConversationCustomer,
    first_response_at: Option<i64>,
    handoff_at: Option<i64>,
    id: String,
    last_inbound_at: Option<i64>,
    priority: i64,
    resolved_at: Option<i64>,
    route: ConversationRoute,
    snoozed_until: Option<i64>,
    status: String,
    team: Option<String>,
    updated_at: i64,
    window: MessagingWindow,
    /// Its SLA clocks now (null: no policy applies, or not handed off).
    sla: Option<SlaState>,
}

/// A conversation's SLA (docs/REPORTS.md, "SLAs"): its worst clock's status and each clock.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SlaState {
    /// `on_track`, `at_risk`, `breached` (running), `met`, `missed` (stopped).
    status: String,
    business_hours: bool,
    clocks: Vec<SlaClock>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SlaClock {
    /// `first_response`, `next_response`, `resolution`.
    clock: String,
    status: String,
    target_ms: i64,
    started_at: i64,
    stopped_at: Option<i64>,
    at_risk_at: Option<i64>,
    due_at: Option<i64>,
    elapsed_ms: i64,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ConsoleListResponse {
    conversations: Vec<ConsoleListResponseConversation>,
    next: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ConsoleShowResponseContact {
    #[schema(value_type = Object)]
    fields: BTreeMap<String, serde_json::Value>,
    id: String,
    identities: Vec<ContactIdentity>,
    language: Option<String>,
    name: Option<String>,
    phone: Option<String>,
    tags: Vec<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ConversationEvent {
    agent: Option<String>,
    detail: Option<String>,
    kind: String,
    team: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ReplyButton {
    id: String,
    title: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ListRow {
    description: Option<String>,
    id: String,
    title: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ListSection {
    rows: Vec<ListRow>,
    title: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct MessageBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    button: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    buttons: Option<Vec<ReplyButton>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    footer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    header: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    preview_url: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sections: Option<Vec<ListSection>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    r#type: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct MessageView {
    attempts: i64,
    author: Option<String>,
    body: MessageBody,
    conversation_id: String,
    created_at: i64,
    direction: String,
    error_code: Option<serde_json::Value>,
    error_reason: Option<String>,
    id: String,
    kind: String,
    provider_id: Option<String>,
    sender: String,
    status: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ConsoleShowResponse {
    /// The campaign whose message this conversation answers (its newest), if any.
    campaign: Option<CampaignRef>,
    contact: ConsoleShowResponseContact,
    conversation: ConsoleListResponseConversation,
    events: Vec<ConversationEvent>,
    history: Vec<ConsoleListResponseConversation>,
    messages: Vec<MessageView>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct CampaignRef {
    id: String,
    name: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct MeAgent {
    assigned: Vec<String>,
    capacity: i64,
    id: String,
    load: i64,
    name: Option<String>,
    offered: Vec<String>,
    presence: String,
    teams: Vec<Option<String>>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ConsoleMeResponseUser {
    email: Option<String>,
    id: String,
    language: Option<String>,
    name: Option<String>,
    role: String,
    supervises: Vec<String>,
    teams: Vec<Option<String>>,
    time_zone: Option<String>,
    via: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ConsoleMeResponse {
    agent: MeAgent,
    user: ConsoleMeResponseUser,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct QuickReplyView {
    shortcut: String,
    text: String,
    title: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ConsoleQuickRepliesResponse {
    quick_replies: Vec<QuickReplyView>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ConsoleTeamsResponseTeamAgent {
    capacity: i64,
    id: String,
    load: i64,
    name: Option<String>,
    presence: String,
    presence_since: Option<i64>,
    /// The conversations the agent holds in this team (null for those who do not see its
    /// queue); listed once the board's read of the open conversations (at most 5 s old) has them.
    conversations: Option<Vec<ConsoleTeamsHeld>>,
}

/// A conversation an agent holds.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ConsoleTeamsHeld {
    id: String,
    /// `assigned` or `offered`.
    state: String,
    /// Its running SLA clocks now: `on_track`, `at_risk`, `breached`; null: none runs.
    sla: Option<String>,
}

/// A queued conversation.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ConsoleTeamsWaiting {
    id: String,
    /// When it entered the queue (unix ms).
    since: i64,
    /// Its running SLA clocks now: `on_track`, `at_risk`, `breached`; null: none runs.
    sla: Option<String>,
}

/// Open conversations of a team with a clock at risk or breached now.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ConsoleTeamsSla {
    at_risk: i64,
    breached: i64,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ConsoleTeamsResponseTeam {
    agents: Vec<ConsoleTeamsResponseTeamAgent>,
    id: String,
    name: Option<String>,
    oldest_arrival: Option<i64>,
    private: bool,
    queue: Vec<String>,
    /// The head of the queue with each one's wait and SLA state.
    waiting: Vec<ConsoleTeamsWaiting>,
    queue_length: Option<i64>,
    /// Null for those who do not see the team's queue.
    sla: Option<ConsoleTeamsSla>,
    strategy: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ConsoleTeamsResponse {
    teams: Vec<ConsoleTeamsResponseTeam>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ConsoleReplyResponse {
    message: MessageView,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ConsoleNoteResponse {
    message: MessageView,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ConsoleSnoozeResponse {
    conversation: ConsoleListResponseConversation,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ConsoleTransferResponse {
    conversation: ConsoleListResponseConversation,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ConsoleLifecycleResponse {
    conversation: ConsoleListResponseConversation,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ConsoleForcePresenceResponse {
    agent: Option<String>,
    presence: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ConsoleSetPresenceResponse {
    presence: String,
}
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ContactIdentity {
    address: Option<String>,
    channel: Option<String>,
    first_seen: i64,
    kind: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ContactView {
    conversations: i64,
    created_at: i64,
    email: Option<String>,
    #[schema(value_type = Object)]
    fields: BTreeMap<String, serde_json::Value>,
    first_seen: i64,
    id: String,
    identities: Vec<ContactIdentity>,
    language: Option<String>,
    last_inbound_at: Option<i64>,
    location: Option<serde_json::Value>,
    name: Option<String>,
    phone: Option<String>,
    tags: Vec<String>,
    updated_at: i64,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ContactsListResponse {
    contacts: Vec<ContactView>,
    next_cursor: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ContactConversation {
    assignee: Option<String>,
    channel: Option<String>,
    channel_kind: String,
    created_at: i64,
    id: String,
    status: String,
    team: Option<String>,
    updated_at: i64,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ContactsReadResponseContact {
    conversations: Vec<ContactConversation>,
    /// `GET` only: the marketing consent per WhatsApp number (docs/CAMPAIGNS.md).
    consent: Option<Vec<ContactConsentSummary>>,
    email: Option<String>,
    #[schema(value_type = Object)]
    fields: BTreeMap<String, serde_json::Value>,
    id: String,
    identities: Vec<ContactIdentity>,
    language: Option<String>,
    location: Option<serde_json::Value>,
    name: Option<String>,
    phone: Option<String>,
    tags: Vec<String>,
}

/// A contact's consent on one WhatsApp number: the ledger's last event.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ContactConsentSummary {
    channel: String,
    /// `opted_in`, `opted_out`, or null: never asked.
    state: Option<String>,
    marketing_allowed: bool,
    updated_at: Option<i64>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ContactsReadResponse {
    contact: ContactsReadResponseContact,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ContactsUpdateResponse {
    contact: ContactsReadResponseContact,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ContactsUpdateThroughConversationResponseContact {
    email: Option<String>,
    #[schema(value_type = Object)]
    fields: BTreeMap<String, serde_json::Value>,
    id: String,
    identities: Vec<ContactIdentity>,
    language: Option<String>,
    location: Option<serde_json::Value>,
    name: Option<String>,
    phone: Option<String>,
    tags: Vec<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ContactsUpdateThroughConversationResponse {
    contact: ContactsUpdateThroughConversationResponseContact,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ContactsMergeResponse {
    contact: ContactsReadResponseContact,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ContactsMergeConversationsResponse {
    contact: ContactsUpdateThroughConversationResponseContact,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ContactsUpsertResponse {
    contact: ContactsReadResponseContact,
    created: bool,
}
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EventWebhook {
    channel: Option<String>,
    created_at: i64,
    description: Option<String>,
    disabled_reason: Option<String>,
    enabled: bool,
    events: Vec<String>,
    failing_since: Option<i64>,
    id: String,
    previous_secret_expires_at: Option<i64>,
    team: Option<String>,
    updated_at: i64,
    url: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EventWebhooksListResponse {
    webhooks: Vec<EventWebhook>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EventWebhooksShowResponse {
    webhook: EventWebhook,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EventWebhooksDeliveriesResponse {
    deliveries: Vec<WebhookDelivery>,
    next: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EventWebhooksUpdateResponse {
    webhook: EventWebhook,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EventWebhooksCreateResponseWebhook {
    channel: Option<String>,
    created_at: i64,
    description: Option<String>,
    disabled_reason: Option<String>,
    enabled: bool,
    events: Vec<String>,
    failing_since: Option<i64>,
    id: String,
    previous_secret_expires_at: Option<i64>,
    secret: String,
    team: Option<String>,
    updated_at: i64,
    url: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EventWebhooksCreateResponse {
    webhook: EventWebhooksCreateResponseWebhook,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EventWebhooksReplayRangeResponse {
    replayed: i64,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EventWebhooksRotateResponse {
    webhook: EventWebhooksCreateResponseWebhook,
}
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct HealthHealthzResponse {
    status: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct HealthReadyzResponse {
    status: String,
}
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PanelAppView {
    created_at: i64,
    id: String,
    name: Option<String>,
    teams: Vec<String>,
    updated_at: i64,
    url: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PanelAppsListResponse {
    panel_apps: Vec<PanelAppView>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PanelAppsForConversationResponsePanelApp {
    expires_at: Option<i64>,
    id: String,
    name: Option<String>,
    token: String,
    url: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PanelAppsForConversationResponse {
    panel_apps: Vec<PanelAppsForConversationResponsePanelApp>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PanelAppsUpdateResponse {
    panel_app: PanelAppView,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PanelAppsCreateResponsePanelApp {
    created_at: i64,
    id: String,
    name: Option<String>,
    secret: String,
    teams: Vec<String>,
    updated_at: i64,
    url: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PanelAppsCreateResponse {
    panel_app: PanelAppsCreateResponsePanelApp,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PanelAppsRotateResponse {
    panel_app: PanelAppsCreateResponsePanelApp,
}
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct NotificationEvents {
    assignment: bool,
    message: bool,
    offer: bool,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct NotificationSettings {
    desktop: bool,
    events: NotificationEvents,
    sound: bool,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PushGetSettingsResponse {
    notifications: NotificationSettings,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PushListResponse {
    subscriptions: Vec<PushSubscriptionView>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PushKeyResponse {
    public_key: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PushPutSettingsResponse {
    notifications: NotificationSettings,
}
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ReportCounts {
    abandoned: i64,
    handed_off: i64,
    opened: i64,
    reopened: i64,
    replies: i64,
    resolved_by_agent: i64,
    resolved_by_bot: i64,
    transfers: i64,
    /// Transfers received (under the receiving team and agent).
    transfers_in: i64,
    offered: i64,
    offer_accepted: i64,
    offer_declined: i64,
    offer_expired: i64,
    assigned: i64,
    sla_first_response_met: i64,
    sla_first_response_missed: i64,
    sla_next_response_met: i64,
    sla_next_response_missed: i64,
    sla_resolution_met: i64,
    sla_resolution_missed: i64,
}

/// How many of a clock's stops met its target.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ReportSlaClock {
    met: i64,
    missed: i64,
    /// met / (met + missed); null when no clock stopped.
    share_met: Option<f64>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ReportSla {
    first_response: ReportSlaClock,
    next_response: ReportSlaClock,
    resolution: ReportSlaClock,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ReportDuration {
    count: i64,
    mean_s: Option<f64>,
    p50_s: Option<f64>,
    p90_s: Option<f64>,
    p99_s: Option<f64>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ReportTimes {
    first_response: ReportDuration,
    handle_time: ReportDuration,
    next_response: ReportDuration,
    resolution: ReportDuration,
    wait_in_queue: ReportDuration,
}

/// Per agent (docs/REPORTS.md, "Presence"): from the presence samples.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ReportPresence {
    online_s: f64,
    away_s: f64,
    /// Load over capacity while online; null when never online.
    occupancy: Option<f64>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ReportTotal {
    counts: ReportCounts,
    times: ReportTimes,
    /// The same times counting only the opening hours of each team's calendar (conversations
    /// of teams with one).
    times_business_hours: ReportTimes,
    sla: ReportSla,
    presence: ReportPresence,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ReportsSummaryResponse {
    from: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    groups: Option<Vec<serde_json::Value>>,
    relative_error: f64,
    to: String,
    total: ReportTotal,
    tz: Option<String>,
}
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SegmentView {
    created_at: i64,
    created_by: Option<String>,
    filter: String,
    id: String,
    name: Option<String>,
    updated_at: i64,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SegmentsListResponse {
    segments: Vec<SegmentView>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SegmentsReadResponseSegment {
    count: i64,
    created_at: i64,
    created_by: Option<String>,
    filter: String,
    id: String,
    name: Option<String>,
    updated_at: i64,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SegmentsReadResponse {
    segment: SegmentsReadResponseSegment,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SegmentsMembersResponse {
    contacts: Vec<ContactView>,
    next_cursor: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SegmentsUpdateResponse {
    segment: SegmentsReadResponseSegment,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SegmentsCreateResponse {
    segment: SegmentsReadResponseSegment,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SegmentsPreviewResponse {
    count: i64,
    sample: Vec<ContactView>,
}
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct WebhooksCrcXResponse {
    response_token: String,
}
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct WidgetStatusResponse {
    agents_online: bool,
    status: String,
    within_hours: bool,
}

/// A message of the visitor's transcript: `type` is `text`, `buttons`, `list` or `file`, and
/// the fields of its kind are present.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct WidgetTranscriptResponseMessage {
    seq: i64,
    id: String,
    /// `visitor`, `bot` or `agent`.
    from: String,
    created_at: i64,
    /// The widget's own id of a visitor's message.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    r#type: String,
    /// `text`, `buttons`, `list`.
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    header: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    footer: Option<String>,
    /// `list`: the button that opens it.
    #[serde(skip_serializing_if = "Option::is_none")]
    button: Option<String>,
    /// `buttons` and `list`.
    #[serde(skip_serializing_if = "Option::is_none")]
    options: Option<Vec<TranscriptOption>>,
    /// `file`: the attachment.
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    media_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mime_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    filename: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    caption: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TranscriptOption {
    id: String,
    title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct WidgetTranscriptResponse {
    last_seq: i64,
    messages: Vec<WidgetTranscriptResponseMessage>,
    name: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct WidgetSendMessageResponse {
    client_id: String,
    duplicate: bool,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct WidgetOfflineResponse {
    client_id: String,
    duplicate: bool,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct WidgetCreateSessionResponse {
    channel: Option<String>,
    customer_id: String,
    visitor_token: String,
}

/// One delivery of an event to an endpoint, as the delivery log shows it.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct WebhookDelivery {
    id: String,
    endpoint_id: String,
    event_id: String,
    event_seq: i64,
    /// The event's type (also in `type`).
    kind: String,
    r#type: String,
    conversation_key: String,
    replay_of: Option<String>,
    /// `pending`, `delivered` or `failed`.
    state: String,
    attempts: i64,
    /// Only while pending.
    next_attempt_at: Option<i64>,
    response_status: Option<i64>,
    latency_ms: Option<i64>,
    response_excerpt: Option<String>,
    error: Option<String>,
    created_at: i64,
    updated_at: i64,
    delivered_at: Option<i64>,
}

/// A browser's push subscription (the endpoint itself is never shown back).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PushSubscriptionView {
    id: String,
    /// The push service's host.
    service: Option<String>,
    user_agent: Option<String>,
    created_at: i64,
}

/// The customer's number, revealed (audited).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ConsoleRevealResponse {
    customer: String,
    phone: Option<String>,
}

/// A visitor's file, accepted.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct WidgetAttachResponse {
    client_id: String,
    duplicate: bool,
    kind: String,
    mime_type: String,
    filename: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PushSubscribeResponse {
    subscription: PushSubscriptionView,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ReplayedDelivery {
    /// The new delivery.
    id: String,
    /// The delivery it replays.
    replay_of: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EventWebhooksReplayResponse {
    delivery: ReplayedDelivery,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct BusinessSendResponse {
    message_id: String,
    conversation_id: String,
    message: MessageView,
}

/// Where a handed-off conversation is now (nothing of the customer).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct BusinessHandoffConversation {
    id: String,
    status: String,
    team: Option<String>,
    assignee: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct BusinessHandoffResponse {
    conversation: BusinessHandoffConversation,
}

/// What an import did: its rows, how many created, updated, unchanged or rejected contacts,
/// and the rejected rows as given plus an `error` column (null when none was rejected).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ContactsImportResponse {
    rows: i64,
    created: i64,
    updated: i64,
    unchanged: i64,
    rejected: i64,
    rejected_csv: Option<String>,
}

/// What an erasure left and removed: the opaque id the conversations now carry, and how many
/// conversations, messages and files it reached.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ContactsErased {
    id: String,
    conversations: i64,
    messages: i64,
    media: i64,
    /// Consent ledger entries anonymised (kept under the opaque id, without their proof).
    consent: i64,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ContactsEraseResponse {
    erased: ContactsErased,
}
