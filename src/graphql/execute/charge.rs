//! What an operation costs and spending it from the caller's rate limits (`ratelimit/`), for
//! the pipeline and for what answers without it (a cached response): the caller's credentials
//! are verified here, before execution, so that a user is charged only by a valid token.

use tracing::Span;

use super::{Pipeline, Prepared, Verified};
use crate::{
    auth::guard::{Auth, Principal},
    error::{AppError, RequestError},
    graphql::{cost, ratelimit::Spent},
    request::RequestContext,
};

impl Pipeline {
    /// What running `prepared` costs (`cost.rs`): at least 1 (a refused document costs its
    /// parse), at most the complexity limit (beyond it, validation refuses it).
    pub fn cost(&self, prepared: &Prepared) -> u64 {
        let cost = match &prepared.checked {
            Ok((document, _)) => {
                let request = &prepared.request;
                let name = request.operation_name.as_deref();
                cost::of(document, &request.variables, name)
            }
            Err(_) => 1,
        };
        cost.min(self.limits.max_complexity as u64).max(1)
    }

    /// Spends `cost` from the rate limits of the caller `context` describes: its address's,
    /// and its user's when it presents a valid token (a bad one is not charged as a user; the
    /// fields that need the caller report it). TOO_MANY_REQUESTS with the seconds to wait when
    /// either budget lacks room, and then nothing is taken. For answers that skip execution
    /// (a cached response), which cost what running would.
    pub async fn spend(&self, context: &RequestContext, cost: u64) -> Result<Spent, RequestError> {
        let (_, spent) = self.charge(context, [], cost, None).await;
        match spent.retry_after() {
            Some(seconds) => Err(RequestError::rate_limited(seconds)),
            None => Ok(spent),
        }
    }

    /// Verifies the caller's credentials (the user id recorded in `spans`), unless they were
    /// verified before parsing already (`known`: a DPoP proof is spent once), and spends `cost`.
    pub(super) async fn charge(
        &self,
        context: &RequestContext,
        spans: impl IntoIterator<Item = Span>,
        cost: u64,
        known: Option<Verified>,
    ) -> (Verified, Spent) {
        let verified = match known {
            Some(verified) => verified,
            None => self.verify(context, spans).await,
        };
        let user = verified
            .as_ref()
            .ok()
            .and_then(Option::as_ref)
            .map(|p| p.user_id);
        let spent = self.budgets.spend(context.client, user, cost).await;
        (verified, spent)
    }

    /// The caller the credentials of `context` prove (none without credentials, an error for
    /// bad ones), its user id recorded in `spans`: the one check of a request's token, made
    /// once before execution (or before parsing, when a policy needs it) and handed to the
    /// request's fields ([`Auth::verified`]).
    pub(super) async fn verify(
        &self,
        context: &RequestContext,
        spans: impl IntoIterator<Item = Span>,
    ) -> Verified {
        let auth = Auth::new(context.authorization.clone(), context.dpop.clone());
        let auth = auth.recorded_in(spans);
        let verified = auth.principal(self.admission.tokens()).await;
        verified
            .map(Option::<&Principal>::cloned)
            .map_err(AppError::clone)
    }
}
