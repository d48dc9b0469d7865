//! The budgets of a single instance: every key's TAT in one map behind one lock, so that a
//! spend over both budgets is atomic. Times are the Unix microseconds the caller passes (the
//! server's clock).

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard, PoisonError},
};

use async_trait::async_trait;

use super::{Budget, BudgetStore, Standing};
use crate::error::AppResult;

/// Full budgets are forgotten, checked when the map grows past this.
const PRUNE_ABOVE: usize = 100_000;

#[derive(Default)]
pub struct MemoryBudgets {
    // A std lock: held for a few map operations, never across an await.
    tats: Mutex<HashMap<String, i64>>,
}

impl MemoryBudgets {
    fn tats(&self) -> MutexGuard<'_, HashMap<String, i64>> {
        self.tats.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl BudgetStore for MemoryBudgets {
    async fn spend(&self, budgets: &[Budget], cost: u64, now: i64) -> AppResult<Vec<Standing>> {
        let mut tats = self.tats();
        if tats.len() > PRUNE_ABOVE {
            tats.retain(|_, tat| *tat > now);
        }
        let taken: Vec<(Option<i64>, Standing)> = budgets
            .iter()
            .map(|b| b.rate.take(tats.get(&b.key).copied(), now, cost))
            .collect();
        if taken.iter().all(|(tat, _)| tat.is_some()) {
            for (budget, (tat, _)) in budgets.iter().zip(&taken) {
                if let Some(tat) = tat {
                    tats.insert(budget.key.clone(), *tat);
                }
            }
            return Ok(taken.into_iter().map(|(_, standing)| standing).collect());
        }
        // Refused: nothing taken, each budget as it stands.
        Ok(budgets
            .iter()
            .zip(taken)
            .map(|(budget, (tat, standing))| match tat {
                None => standing,
                Some(_) => budget.rate.take(tats.get(&budget.key).copied(), now, 0).1,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graphql::ratelimit::gcra::Rate;

    fn budget(key: &str, quota: u64) -> Budget {
        Budget {
            key: key.into(),
            rate: Rate::new(quota, 60_000_000),
        }
    }

    #[tokio::test]
    async fn a_budget_that_fits_reports_what_it_would_keep_when_another_refuses() {
        let store = MemoryBudgets::default();
        let both = [budget("a", 100), budget("u", 10)];
        store.spend(&both, 8, 0).await.expect("spent");
        let refused = store.spend(&both, 5, 0).await.expect("answered");
        assert_eq!(refused[0].remaining, 92);
        assert_eq!(refused[0].retry_after, None);
        assert_eq!(refused[1].remaining, 2);
        assert!(refused[1].retry_after.is_some());
    }
}
