// Deliberately wrong uses of the generated documents. Each line after a `@ts-expect-error`
// must really be a type error: if it were not, tsc would report the directive as unused and
// the type check would fail. tests/03-codegen.test.js also strips the directives and checks
// that tsc then reports an error on exactly those lines.

import { GraphQLClient } from 'graphql-request';
import {
  CreateRecipeDocument,
  MeDocument,
  PublishedRecipesDocument,
  RecipeDocument,
} from '../generated/from-file/graphql.ts';

export async function wrongUsage(client: GraphQLClient): Promise<void> {
  // @ts-expect-error `first` is an Int, not a string.
  await client.request(PublishedRecipesDocument, { first: 'three' });

  // @ts-expect-error `id` is a required variable of the Recipe query.
  await client.request(RecipeDocument, {});

  // @ts-expect-error `cookTime` is required in CreateRecipeInput.
  await client.request(CreateRecipeDocument, { input: { name: 'Soup', numOfServings: 2 } });

  const { me } = await client.request(MeDocument);
  // @ts-expect-error the Me query does not select `createdAt`.
  console.log(me.createdAt);

  const { recipe } = await client.request(RecipeDocument, { id: '1' });
  // @ts-expect-error `recipe` is nullable: it must be checked before use.
  console.log(recipe.name);

  const { recipes } = await client.request(PublishedRecipesDocument, { first: 1 });
  // @ts-expect-error `totalCount` is a number.
  const count: string = recipes.totalCount;
  console.log(count);
}
