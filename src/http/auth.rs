//! Console authentication: `Authorization: Bearer <token>` (or `?access_token=` for the
//! websocket, which browsers cannot give headers). Tokens are kept only as SHA-256 digests.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};

use super::{ApiError, AppState};
use crate::domain::{AgentId, TeamId};

/// The authenticated agent of a console request.
#[derive(Clone, Debug)]
pub struct Agent {
    pub id: AgentId,
    pub teams: Vec<TeamId>,
}

impl Agent {
    pub fn in_team(&self, team: Option<&TeamId>) -> bool {
        team.is_some_and(|t| self.teams.contains(t))
    }
}

fn token(req: &HttpRequest) -> Option<String> {
    if let Some(value) = req.headers().get(actix_web::http::header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string());
    }
    web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.get("access_token").cloned())
}

impl FromRequest for Agent {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return ready(Err(ApiError::Internal("no app state".into())));
        };
        let Some(token) = token(req).filter(|t| !t.is_empty()) else {
            return ready(Err(ApiError::Unauthorized(
                "a bearer token is required".into(),
            )));
        };
        ready(match state.desk.authenticate(&token) {
            Some(entry) => Ok(Agent {
                id: entry.id.clone(),
                teams: entry.teams.clone(),
            }),
            None => Err(ApiError::Unauthorized("unknown token".into())),
        })
    }
}
