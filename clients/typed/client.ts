// A small typed client: graphql-request with the TypedDocumentNodes that graphql-codegen
// generates from operations/*.graphql (run codegen first: generated/ is not committed).
// Every result and variables type below is inferred from the documents; nothing is cast.

import { ClientError, GraphQLClient } from 'graphql-request';
import {
  CreateRecipeDocument,
  LoginDocument,
  MeDocument,
  PublishRecipeDocument,
  PublishedRecipesDocument,
  RecipeDocument,
  RegisterDocument,
  type PublishedRecipesQuery,
} from '../generated/from-file/graphql.ts';
import type { CreateRecipeInput, RecipeOrderField } from '../generated/from-file/schema-types.ts';

export interface Session {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  username: string;
}

export type RecipeSummary = PublishedRecipesQuery['recipes']['edges'][number]['node'];

export class SmilecookClient {
  private readonly anonymous: GraphQLClient;

  constructor(private readonly url: string) {
    this.anonymous = new GraphQLClient(url);
  }

  private authed(session: Session): GraphQLClient {
    return new GraphQLClient(this.url, { headers: { Authorization: `Bearer ${session.accessToken}` } });
  }

  async signUp(username: string, email: string, password: string): Promise<Session> {
    const { register } = await this.anonymous.request(RegisterDocument, { input: { username, email, password } });
    const { login } = await this.anonymous.request(LoginDocument, { input: { login: register.username, password } });
    return {
      accessToken: login.accessToken,
      refreshToken: login.refreshToken,
      expiresIn: login.expiresIn,
      username: login.user.username,
    };
  }

  async whoAmI(session: Session): Promise<string> {
    const { me } = await this.authed(session).request(MeDocument);
    return me.username;
  }

  async publish(session: Session, input: CreateRecipeInput): Promise<string> {
    const client = this.authed(session);
    const { createRecipe } = await client.request(CreateRecipeDocument, { input });
    const { publishRecipe } = await client.request(PublishRecipeDocument, { id: createRecipe.id });
    if (!publishRecipe.isPublish) throw new Error('publishRecipe did not publish');
    return publishRecipe.id;
  }

  /** The title of a recipe, or null when it is not visible. */
  async title(id: string): Promise<string | null> {
    const { recipe } = await this.anonymous.request(RecipeDocument, { id });
    return recipe ? recipe.name : null;
  }

  /** Every published recipe, following the cursors page by page. */
  async allRecipes(pageSize: number, field: RecipeOrderField = 'CREATED_AT'): Promise<RecipeSummary[]> {
    const all: RecipeSummary[] = [];
    let after: string | null = null;
    for (;;) {
      const page: PublishedRecipesQuery = await this.anonymous.request(PublishedRecipesDocument, {
        first: pageSize,
        after,
        orderBy: { field, direction: 'ASC' },
      });
      all.push(...page.recipes.edges.map((edge) => edge.node));
      if (!page.recipes.pageInfo.hasNextPage) return all;
      after = page.recipes.pageInfo.endCursor ?? null;
    }
  }
}

/** The machine code of a failed request, as graphql-request exposes it. */
export function errorCode(error: unknown): string | undefined {
  if (error instanceof ClientError) {
    const code = error.response.errors?.[0]?.extensions?.['code'];
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
