//! `smilecook seed`: demo data for a fresh database. Two users, `ada` and `bob` (password
//! [`DEMO_PASSWORD`]), and any number of recipes shared between them, 4 in 5 published, with
//! varied cooking times and servings (and ties) so that every ordering has something to show.
//!
//! Everything is written in one transaction with batched INSERTs (10,000 recipes take a few
//! seconds), and seeding runs once: if the demo users exist it refuses and changes nothing.

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::TransactionTrait;
use uuid::Uuid;

use crate::{
    auth::password::{HashThreads, PasswordHasher},
    config::Config,
    db::{self, recipes::Recipe},
    error::{AppError, Shown},
    startup::{self, StartupError},
    time,
};

pub const DEMO_PASSWORD: &str = "smilecook-demo";
pub const DEMO_USERS: [&str; 2] = ["ada", "bob"];
pub const DEFAULT_RECIPES: usize = 40;

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error("the database already has the demo user `{0}`: seed runs once, on a fresh database")]
    AlreadySeeded(&'static str),
    #[error("seeding failed: {0}")]
    Failed(String),
}

impl From<AppError> for SeedError {
    fn from(err: AppError) -> Self {
        Self::Failed(Shown(&err).to_string())
    }
}

impl From<sea_orm::DbErr> for SeedError {
    fn from(err: sea_orm::DbErr) -> Self {
        AppError::from(err).into()
    }
}

/// What was written.
#[derive(Debug)]
pub struct Seeded {
    pub recipes: usize,
    pub published: usize,
}

/// Migrates the database at `config.database_url` and writes the demo users and `count`
/// recipes, all or nothing.
pub async fn run(config: &Config, count: usize) -> Result<Seeded, SeedError> {
    let db = startup::connect_and_migrate(&config.database_url).await?;
    let hasher = PasswordHasher::new(
        config.argon2_memory_kib,
        config.argon2_iterations,
        HashThreads::SINGLE,
    )?;
    let txn = db.begin().await?;
    let mut authors = Vec::new();
    for name in DEMO_USERS {
        let hash = hasher.hash(DEMO_PASSWORD.to_owned()).await?;
        let email = format!("{name}@example.com");
        let user = db::users::insert(&txn, name, &email, hash, true)
            .await
            .map_err(|err| match err {
                AppError::BadUserInput { .. } => SeedError::AlreadySeeded(name),
                other => other.into(),
            })?;
        authors.push(user.id);
    }
    let recipes = demo_recipes(&authors, count, time::now());
    db::recipes::insert_many(&txn, &recipes).await?;
    txn.commit().await?;
    Ok(Seeded {
        recipes: recipes.len(),
        published: recipes.iter().filter(|r| r.is_publish).count(),
    })
}

/// Name, description, ingredients and directions of the dishes the demo recipes cycle through.
const DISHES: [[&str; 4]; 8] = [
    [
        "Tomato soup",
        "Smooth, sweet and ready in half an hour.",
        "1 kg tomatoes\n1 onion\n2 cloves garlic\n500 ml stock",
        "1. Soften the onion and garlic.\n2. Add tomatoes and stock, simmer 20 minutes.\n3. Blend.",
    ],
    [
        "Pancakes",
        "Fluffy breakfast pancakes.",
        "200 g flour\n2 eggs\n300 ml milk\n1 tsp baking powder",
        "1. Whisk everything.\n2. Fry ladlefuls in butter until golden.",
    ],
    [
        "100% whole-wheat bread",
        "A dense, nutty loaf with nothing but whole-wheat flour.",
        "500 g whole-wheat flour\n7 g yeast\n350 ml water\n10 g salt",
        "1. Knead 10 minutes.\n2. Rise 1 hour, shape, rise 45 minutes.\n3. Bake at 220 °C for 35 minutes.",
    ],
    [
        "Grandma's \"secret\" chili",
        "Slow-cooked beef chili; the secret is cocoa.",
        "500 g beef mince\n2 tins kidney beans\n1 tin tomatoes\n1 tbsp cocoa",
        "1. Brown the beef.\n2. Add the rest and simmer 2 hours.",
    ],
    [
        "Green salad",
        "Crisp leaves with a mustard vinaigrette.",
        "1 lettuce\n1 cucumber\n1 tsp mustard\n3 tbsp olive oil",
        "1. Wash and dry the leaves.\n2. Shake the dressing and toss.",
    ],
    [
        "Mushroom risotto",
        "Creamy risotto with porcini.",
        "300 g arborio rice\n20 g dried porcini\n1 l stock\n50 g parmesan",
        "1. Toast the rice.\n2. Add stock a ladle at a time.\n3. Stir in the parmesan.",
    ],
    [
        "Crème brûlée",
        "Vanilla custard under burnt sugar.",
        "500 ml cream\n5 egg yolks\n100 g sugar\n1 vanilla pod",
        "1. Bake the custard in a water bath.\n2. Chill, sugar and torch.",
    ],
    [
        "Snake_case noodles",
        "Stir-fried noodles (the name has an underscore, try searching for `_`).",
        "250 g noodles\n1 pepper\n2 tbsp soy sauce",
        "1. Boil the noodles.\n2. Stir-fry with the pepper and soy sauce.",
    ],
];

const COOK_TIMES: [i32; 8] = [10, 15, 20, 30, 45, 60, 90, 120];

/// `count` recipes shared between `authors`, one minute apart up to `now`.
pub fn demo_recipes(authors: &[Uuid], count: usize, now: DateTime<Utc>) -> Vec<Recipe> {
    (0..count)
        .map(|i| {
            let [name, description, ingredients, directions] = DISHES[i % DISHES.len()];
            let round = i / DISHES.len();
            let name = match round {
                0 => name.to_owned(),
                _ => format!("{name} #{}", round + 1),
            };
            let created_at = now - TimeDelta::minutes((count - i) as i64);
            let mix = scramble(i);
            Recipe {
                id: Uuid::now_v7(),
                author_id: authors[mix % authors.len()],
                name,
                description: description.to_owned(),
                num_of_servings: (mix / 7 % 8 + 1) as i32,
                cook_time: COOK_TIMES[mix / 61 % COOK_TIMES.len()],
                ingredients: ingredients.to_owned(),
                directions: directions.to_owned(),
                is_publish: i % 5 != 4,
                created_at,
                updated_at: created_at,
            }
        })
        .collect()
}

/// A deterministic shuffle of `i`, so that authors, times and servings do not follow the dish.
fn scramble(i: usize) -> usize {
    let x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((x ^ (x >> 29)) >> 16) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipes::input::NewRecipe;

    #[test]
    fn demo_recipes_follow_the_rules_and_four_in_five_are_published() {
        let authors = [Uuid::now_v7(), Uuid::now_v7()];
        let recipes = demo_recipes(&authors, 100, time::now());
        assert_eq!(recipes.iter().filter(|r| r.is_publish).count(), 80);
        for r in recipes {
            let input = NewRecipe {
                name: r.name.clone(),
                description: r.description.clone(),
                num_of_servings: r.num_of_servings,
                cook_time: r.cook_time,
                ingredients: r.ingredients.clone(),
                directions: r.directions.clone(),
            };
            assert!(input.validate().is_ok(), "{} breaks a rule", r.name);
        }
    }
}
