//! The recipe inputs and enums clients send, and their translation into domain types.

use async_graphql::{Enum, InputObject, MaybeUndefined};

use crate::{
    db::recipe_pages::{Direction, Order, OrderField},
    error::{AppError, AppResult},
    recipes::{
        input::{NewRecipe, RecipeChanges},
        listing,
    },
};

/// A new recipe; it starts as a draft that only its author sees. Text is trimmed.
#[derive(InputObject)]
pub struct CreateRecipeInput {
    /// 1 to 100 characters, one line.
    pub name: String,
    /// Up to 200 characters.
    #[graphql(default)]
    pub description: String,
    /// 1 to 50.
    pub num_of_servings: i32,
    /// Minutes, 1 to 300.
    pub cook_time: i32,
    /// Up to 1000 characters.
    #[graphql(default)]
    pub ingredients: String,
    /// Up to 1000 characters.
    #[graphql(default)]
    pub directions: String,
}

impl From<CreateRecipeInput> for NewRecipe {
    fn from(i: CreateRecipeInput) -> Self {
        Self {
            name: i.name,
            description: i.description,
            num_of_servings: i.num_of_servings,
            cook_time: i.cook_time,
            ingredients: i.ingredients,
            directions: i.directions,
        }
    }
}

/// The fields to change, with the rules of `CreateRecipeInput`. Leave a field out to keep it;
/// `null` is refused. Texts that may be empty can be cleared with `""`.
#[derive(InputObject)]
pub struct UpdateRecipeInput {
    pub name: MaybeUndefined<String>,
    pub description: MaybeUndefined<String>,
    pub num_of_servings: MaybeUndefined<i32>,
    pub cook_time: MaybeUndefined<i32>,
    pub ingredients: MaybeUndefined<String>,
    pub directions: MaybeUndefined<String>,
}

impl UpdateRecipeInput {
    pub fn changes(self) -> AppResult<RecipeChanges> {
        Ok(RecipeChanges {
            name: present("name", self.name)?,
            description: present("description", self.description)?,
            num_of_servings: present("numOfServings", self.num_of_servings)?,
            cook_time: present("cookTime", self.cook_time)?,
            ingredients: present("ingredients", self.ingredients)?,
            directions: present("directions", self.directions)?,
        })
    }
}

fn present<T>(field: &'static str, value: MaybeUndefined<T>) -> AppResult<Option<T>> {
    match value {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Value(value) => Ok(Some(value)),
        MaybeUndefined::Null => Err(AppError::input(
            field,
            format!("`{field}` cannot be null: leave it out to keep it as it is."),
        )),
    }
}

/// Which of an author's recipes to list. Only the author chooses: everybody else always sees
/// the author's published recipes, whatever they ask for.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
pub enum Visibility {
    /// Published recipes and drafts.
    #[default]
    All,
    /// Published recipes only.
    Public,
    /// Drafts only.
    Private,
}

impl From<Visibility> for listing::Visibility {
    fn from(v: Visibility) -> Self {
        match v {
            Visibility::All => Self::All,
            Visibility::Public => Self::Public,
            Visibility::Private => Self::Private,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum RecipeOrderField {
    CreatedAt,
    /// Cooking time in minutes.
    CookTime,
    NumOfServings,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum OrderDirection {
    Asc,
    Desc,
}

/// How to order recipes; recipes that tie keep a stable order (by id).
#[derive(InputObject, Clone, Copy)]
pub struct RecipeOrder {
    pub field: RecipeOrderField,
    pub direction: OrderDirection,
}

impl From<RecipeOrder> for Order {
    fn from(o: RecipeOrder) -> Self {
        Self {
            field: match o.field {
                RecipeOrderField::CreatedAt => OrderField::CreatedAt,
                RecipeOrderField::CookTime => OrderField::CookTime,
                RecipeOrderField::NumOfServings => OrderField::NumOfServings,
            },
            direction: match o.direction {
                OrderDirection::Asc => Direction::Asc,
                OrderDirection::Desc => Direction::Desc,
            },
        }
    }
}
