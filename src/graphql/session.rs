//! The caller's login sessions ("where am I logged in"): `mySessions`, `revokeSession`,
//! `revokeOtherSessions`. Rules live in [`crate::accounts`].

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::{require_user, state};
use crate::{accounts, db};

/// One login: created by `login`, used by each `refreshToken`, ended by `logout`, by
/// `revokeSession`, or after `SESSION_IDLE_TIMEOUT` without a refresh.
#[derive(SimpleObject)]
pub struct Session {
    pub id: ID,
    pub created_at: DateTime<Utc>,
    /// The last refresh, or the login.
    pub last_used_at: DateTime<Utc>,
    /// A label for the user agent that logged in, such as "Firefox on Linux".
    pub device: String,
    /// The client's network at login (a /24 or /48), never its full address.
    pub client_network: Option<String>,
    /// Whether this is the session of the token asking.
    pub current: bool,
}

impl Session {
    fn new(session: db::sessions::Model, current: bool) -> Self {
        Self {
            id: ID(session.id.to_string()),
            created_at: session.created_at,
            last_used_at: session.last_used(),
            device: device_label(session.user_agent.as_deref()),
            client_network: session.client_network,
            current,
        }
    }
}

#[derive(Default)]
pub struct SessionQuery;

#[Object]
impl SessionQuery {
    /// The caller's live login sessions, most recently used first.
    async fn my_sessions(&self, ctx: &Context<'_>) -> Result<Vec<Session>> {
        let principal = require_user(ctx).await?;
        let sessions = accounts::sessions(state(ctx), principal).await?;
        let current = principal.claims.sid;
        Ok(sessions
            .into_iter()
            .map(|s| {
                let is_current = s.id == current;
                Session::new(s, is_current)
            })
            .collect())
    }
}

#[derive(Default)]
pub struct SessionMutation;

#[Object]
impl SessionMutation {
    /// Ends one of the caller's sessions: its access and refresh tokens stop working, and its
    /// subscriptions close. NOT_FOUND for an id that is not one of the caller's live sessions.
    async fn revoke_session(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let principal = require_user(ctx).await?;
        accounts::revoke_session(state(ctx), principal, &id).await?;
        Ok(true)
    }

    /// Ends every session of the caller but the current one; answers how many ended.
    async fn revoke_other_sessions(&self, ctx: &Context<'_>) -> Result<i32> {
        let principal = require_user(ctx).await?;
        let ended = accounts::revoke_other_sessions(state(ctx), principal).await?;
        Ok(i32::try_from(ended).unwrap_or(i32::MAX))
    }
}

/// "Browser on system" from a user agent, by the tokens browsers and common clients send
/// (most specific first: Edge and Opera also say Chrome, Chrome also says Safari).
pub fn device_label(user_agent: Option<&str>) -> String {
    let Some(agent) = user_agent else {
        return "Unknown device".into();
    };
    const BROWSERS: [(&str, &str); 11] = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chromium/", "Chromium"),
        ("HeadlessChrome/", "Headless Chrome"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("node", "Node.js"),
        ("okhttp/", "OkHttp"),
        ("python", "Python"),
    ];
    const SYSTEMS: [(&str, &str); 7] = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ];
    let find = |table: &[(&str, &'static str)]| {
        table
            .iter()
            .find(|(token, _)| agent.contains(token))
            .map(|(_, name)| *name)
    };
    match (find(&BROWSERS), find(&SYSTEMS)) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.into(),
        (None, Some(system)) => format!("Unknown browser on {system}"),
        (None, None) => agent.split(['/', ' ']).next().unwrap_or(agent).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_the_browser_and_the_system() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0";
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";
        assert_eq!(device_label(Some(firefox)), "Firefox on Linux");
        assert_eq!(device_label(Some(edge)), "Edge on Windows");
        assert_eq!(device_label(Some(safari)), "Safari on iOS");
        assert_eq!(device_label(Some("curl/8.5.0")), "curl");
        assert_eq!(device_label(Some("MyApp/2.1")), "MyApp");
        assert_eq!(device_label(None), "Unknown device");
    }
}
