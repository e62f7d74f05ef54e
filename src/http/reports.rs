//! Reports over REST (docs/REPORTS.md): supervisors read their teams', admins everyone's,
//! agents none (403).
//!
//! - `GET /api/v1/reports/summary?from=&to=&tz=&team=&agent=&group=`: the rollups of
//!   `[from, to)` merged (counts; count, mean, p50, p90, p99 of each time), grouped by
//!   `channel`, `team`, `agent`, `hour` or `day` (of `tz`, an IANA name, UTC by default);
//! - `GET /api/v1/reports/summary.csv?…`: the same as a table (a row for the total, one per
//!   group; a column per figure);
//! - `GET /api/v1/reports/conversations.csv?from=&to=&tz=&team=`: one row per conversation opened
//!   in the range, with all its times (in `tz`), streamed page by page.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::auth::Caller;
use super::{ApiError, AppState};
use crate::accounts::policy::{self, ReportScope};
use crate::reports::summary::{self, Grouping};
use crate::store::reports::{ReportPage, RollupQuery};

/// The longest team or agent id accepted in a query.
const ID_MAX: usize = 100;

/// Conversations written per page of the CSV.
const CSV_PAGE: i64 = 500;

pub fn routes(api: &mut super::openapi::Api) {
    api.op(__path_summary, summary)
        .op(__path_summary_csv, summary_csv)
        .op(__path_conversations_csv, conversations_csv);
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    from: Option<String>,
    to: Option<String>,
    tz: Option<String>,
    team: Option<String>,
    agent: Option<String>,
    group: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CsvQuery {
    from: Option<String>,
    to: Option<String>,
    tz: Option<String>,
    team: Option<String>,
}

fn id(name: &str, value: &Option<String>) -> Result<Option<String>, ApiError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) if v.chars().count() > ID_MAX => Err(ApiError::BadRequest(format!(
            "`{name}` takes at most {ID_MAX} characters"
        ))),
        Some(v) => Ok(Some(v.to_string())),
    }
}

/// The teams the caller's report covers (None: all), narrowed to `team` when asked.
fn teams(caller: &Caller, team: Option<String>) -> Result<Option<Vec<String>>, ApiError> {
    match (policy::report_scope(&caller.principal), team) {
        (ReportScope::Forbidden, _) => Err(ApiError::Forbidden(
            "only supervisors and admins read reports".into(),
        )),
        (ReportScope::All, None) => Ok(None),
        (ReportScope::All, Some(t)) => Ok(Some(vec![t])),
        (ReportScope::Teams(mine), None) => {
            Ok(Some(mine.iter().map(|t| t.as_str().to_string()).collect()))
        }
        (ReportScope::Teams(mine), Some(t)) if mine.iter().any(|m| m.as_str() == t) => {
            Ok(Some(vec![t]))
        }
        (ReportScope::Teams(_), Some(t)) => Err(ApiError::Forbidden(format!(
            "you do not supervise team {t}"
        ))),
    }
}

#[utoipa::path(
    get,
    path = "/reports/summary",
    tag = "reports",
    security(("console" = [])),
    params(SummaryQuery),
    responses(
        (status = 200, description = "OK.", body = super::schemas::ReportsSummaryResponse),
    )
)]
async fn summary(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<SummaryQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(summary_of(&state, &caller, &query).await?))
}

/// What every report asks first: the teams the caller may read (narrowed to `team`), the time
/// zone and the range `[from, to)`.
struct Scope {
    teams: Option<Vec<String>>,
    tz: chrono_tz::Tz,
    from: i64,
    to: i64,
}

fn scope(
    caller: &Caller,
    team: &Option<String>,
    tz: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<Scope, ApiError> {
    let teams = teams(caller, id("team", team)?)?;
    let tz = summary::parse_tz(tz).map_err(ApiError::BadRequest)?;
    let (from, to) = summary::range(from, to, tz).map_err(ApiError::BadRequest)?;
    Ok(Scope {
        teams,
        tz,
        from,
        to,
    })
}

/// The summary of `query` (the same checks as `GET /reports/summary`).
async fn summary_of(
    state: &AppState,
    caller: &Caller,
    query: &SummaryQuery,
) -> Result<serde_json::Value, ApiError> {
    let Scope {
        teams,
        tz,
        from,
        to,
    } = scope(
        caller,
        &query.team,
        query.tz.as_deref(),
        query.from.as_deref(),
        query.to.as_deref(),
    )?;
    let grouping = Grouping::parse(query.group.as_deref()).map_err(ApiError::BadRequest)?;
    let rollups = RollupQuery {
        from,
        to,
        teams,
        agent: id("agent", &query.agent)?,
        grouping,
    };
    Ok(crate::reports::read::summary(&*state.store, &rollups, tz).await?)
}

#[utoipa::path(
    get,
    path = "/reports/summary.csv",
    tag = "reports",
    security(("console" = [])),
    params(SummaryQuery),
    responses(
        (status = 200, description = "The summary's table: a row for the total and one per group, a column per figure (named by its path in the JSON summary).", body = String, content_type = "text/csv"),
    )
)]
async fn summary_csv(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<SummaryQuery>,
) -> Result<HttpResponse, ApiError> {
    let summary = summary_of(&state, &caller, &query).await?;
    let bytes = crate::reports::csv::summary_table(&summary)
        .map_err(|e| ApiError::Internal(format!("csv: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"summary.csv\"",
        ))
        .body(bytes))
}

#[utoipa::path(
    get,
    path = "/reports/conversations.csv",
    tag = "reports",
    security(("console" = [])),
    params(CsvQuery),
    responses(
        (status = 200, description = "One row per conversation, as CSV.", body = String, content_type = "text/csv"),
    )
)]
async fn conversations_csv(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<CsvQuery>,
) -> Result<HttpResponse, ApiError> {
    let Scope {
        teams,
        tz,
        from,
        to,
    } = scope(
        &caller,
        &query.team,
        query.tz.as_deref(),
        query.from.as_deref(),
        query.to.as_deref(),
    )?;
    let first = ReportPage {
        from,
        to,
        teams,
        after: None,
        limit: CSV_PAGE,
    };
    let state = state.into_inner();
    // Page by page: (the next page, whether the header is written yet); None: done.
    let pages = futures::stream::try_unfold(Some((first, true)), move |next| {
        let state = state.clone();
        async move {
            let Some((page, header)) = next else {
                return Ok::<_, actix_web::Error>(None);
            };
            let rows = state
                .store
                .conversation_reports(&page)
                .await
                .map_err(ApiError::from)?;
            let lines: Vec<_> = rows
                .iter()
                .map(|r| crate::reports::csv::row(r, tz))
                .collect();
            let bytes = crate::reports::csv::write(header, &lines)
                .map_err(|e| ApiError::Internal(format!("csv: {e}")))?;
            let after = (rows.len() as i64 == page.limit)
                .then(|| rows.last())
                .flatten()
                .map(|r| ReportPage {
                    after: Some((r.opened_at, r.conversation_id.clone())),
                    ..page.clone()
                });
            Ok(Some((web::Bytes::from(bytes), after.map(|p| (p, false)))))
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"conversations.csv\"",
        ))
        .streaming(pages))
}
