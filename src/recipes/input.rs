//! The rules a recipe's fields follow. Text is trimmed first, lengths count characters, and
//! each failure is a BAD_USER_INPUT naming the field as the client spells it (camelCase).

use std::ops::RangeInclusive;

use crate::{
    db::recipes::Recipe,
    error::{AppError, AppResult},
};

pub const NAME_LENGTH: RangeInclusive<usize> = 1..=100;
pub const DESCRIPTION_LENGTH: RangeInclusive<usize> = 0..=200;
pub const SERVINGS: RangeInclusive<i32> = 1..=50;
/// Minutes.
pub const COOK_TIME: RangeInclusive<i32> = 1..=300;
pub const INGREDIENTS_LENGTH: RangeInclusive<usize> = 0..=1000;
pub const DIRECTIONS_LENGTH: RangeInclusive<usize> = 0..=1000;

/// The fields of a new recipe as the client sent them.
#[derive(Clone, Debug)]
pub struct NewRecipe {
    pub name: String,
    pub description: String,
    pub num_of_servings: i32,
    pub cook_time: i32,
    pub ingredients: String,
    pub directions: String,
}

impl NewRecipe {
    /// The same fields, trimmed, or the first rule they break.
    pub fn validate(self) -> AppResult<Self> {
        Ok(Self {
            name: name(&self.name)?,
            description: description(&self.description)?,
            num_of_servings: servings(self.num_of_servings)?,
            cook_time: cook_time(self.cook_time)?,
            ingredients: ingredients(&self.ingredients)?,
            directions: directions(&self.directions)?,
        })
    }
}

/// A partial update: `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct RecipeChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub num_of_servings: Option<i32>,
    pub cook_time: Option<i32>,
    pub ingredients: Option<String>,
    pub directions: Option<String>,
}

impl RecipeChanges {
    /// The same changes, trimmed, or the first rule one of them breaks.
    pub fn validate(self) -> AppResult<Self> {
        Ok(Self {
            name: self.name.as_deref().map(name).transpose()?,
            description: self.description.as_deref().map(description).transpose()?,
            num_of_servings: self.num_of_servings.map(servings).transpose()?,
            cook_time: self.cook_time.map(cook_time).transpose()?,
            ingredients: self.ingredients.as_deref().map(ingredients).transpose()?,
            directions: self.directions.as_deref().map(directions).transpose()?,
        })
    }

    pub fn apply(&self, recipe: &mut Recipe) {
        let set = |field: &mut String, value: &Option<String>| {
            if let Some(value) = value {
                field.clone_from(value);
            }
        };
        set(&mut recipe.name, &self.name);
        set(&mut recipe.description, &self.description);
        set(&mut recipe.ingredients, &self.ingredients);
        set(&mut recipe.directions, &self.directions);
        recipe.num_of_servings = self.num_of_servings.unwrap_or(recipe.num_of_servings);
        recipe.cook_time = self.cook_time.unwrap_or(recipe.cook_time);
    }
}

fn name(value: &str) -> AppResult<String> {
    text("name", value, NAME_LENGTH, Lines::One)
}

fn description(value: &str) -> AppResult<String> {
    text("description", value, DESCRIPTION_LENGTH, Lines::Many)
}

fn ingredients(value: &str) -> AppResult<String> {
    text("ingredients", value, INGREDIENTS_LENGTH, Lines::Many)
}

fn directions(value: &str) -> AppResult<String> {
    text("directions", value, DIRECTIONS_LENGTH, Lines::Many)
}

fn servings(value: i32) -> AppResult<i32> {
    number("numOfServings", value, SERVINGS, "servings")
}

fn cook_time(value: i32) -> AppResult<i32> {
    number("cookTime", value, COOK_TIME, "minutes")
}

#[derive(PartialEq)]
enum Lines {
    One,
    Many,
}

/// Trims `value` and checks its length in characters. Control characters are refused (a name
/// is one line; longer texts may hold tabs and line breaks): PostgreSQL cannot store NUL, and
/// `search_text` uses one as its field separator.
fn text(
    field: &'static str,
    value: &str,
    length: RangeInclusive<usize>,
    lines: Lines,
) -> AppResult<String> {
    let value = value.trim();
    let allowed = |c: char| lines == Lines::Many && matches!(c, '\n' | '\r' | '\t');
    if value.chars().any(|c| c.is_control() && !allowed(c)) {
        let what = if lines == Lines::One {
            "line breaks or control characters"
        } else {
            "control characters"
        };
        return Err(AppError::input(
            field,
            format!("`{field}` may not contain {what}."),
        ));
    }
    if !length.contains(&value.chars().count()) {
        let (min, max) = (length.start(), length.end());
        let message = if *min == 0 {
            format!("`{field}` may have at most {max} characters.")
        } else {
            format!(
                "`{field}` must have {min} to {max} characters (surrounding spaces do not count)."
            )
        };
        return Err(AppError::input(field, message));
    }
    Ok(value.to_owned())
}

fn number(
    field: &'static str,
    value: i32,
    range: RangeInclusive<i32>,
    unit: &str,
) -> AppResult<i32> {
    if !range.contains(&value) {
        let (min, max) = (range.start(), range.end());
        return Err(AppError::input(
            field,
            format!("`{field}` must be {min} to {max} {unit}."),
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(err: AppError) -> Option<&'static str> {
        match err {
            AppError::BadUserInput { field, .. } => field,
            _ => None,
        }
    }

    #[test]
    fn names_are_trimmed_and_counted_in_characters() {
        assert_eq!(name("  Soup \n").ok().as_deref(), Some("Soup"));
        assert!(name(&"é".repeat(100)).is_ok());
        assert_eq!(
            name(&"é".repeat(101)).err().and_then(field_of),
            Some("name")
        );
        assert_eq!(name("   ").err().and_then(field_of), Some("name"));
    }

    #[test]
    fn control_characters_are_refused_but_long_texts_keep_line_breaks() {
        assert!(name("two\nlines").is_err());
        assert!(directions("1. Boil.\n2.\tServe.").is_ok());
        assert_eq!(
            description("nul\u{0}byte").err().and_then(field_of),
            Some("description")
        );
    }

    #[test]
    fn numbers_name_their_camel_case_field() {
        assert_eq!(servings(0).err().and_then(field_of), Some("numOfServings"));
        assert_eq!(cook_time(301).err().and_then(field_of), Some("cookTime"));
        assert_eq!(cook_time(300).ok(), Some(300));
    }
}
