// A graphql-codegen schema loader for a live server: runs graphql-js's standard
// introspection query (with every optional part: descriptions, @specifiedBy URLs, repeatable
// directives, deprecated input values) against the URL and returns the schema as SDL, so
// codegen treats it exactly like the checked-in schema.graphql.
import { buildClientSchema, getIntrospectionQuery, parse, printSchema } from 'graphql';

/** The introspection result (`data`) of the server at `url`, asked as the standard query. */
export async function introspect(url) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: JSON.stringify({
      operationName: 'IntrospectionQuery',
      query: getIntrospectionQuery({
        descriptions: true,
        specifiedByUrl: true,
        directiveIsRepeatable: true,
        schemaDescription: true,
        inputValueDeprecation: true,
      }),
    }),
  });
  const body = await response.json();
  if (!response.ok || body.errors?.length) {
    throw new Error(`introspection of ${url} failed (HTTP ${response.status}): ${JSON.stringify(body.errors ?? body)}`);
  }
  return body.data;
}

export default async function introspectionLoader(url) {
  return parse(printSchema(buildClientSchema(await introspect(url))));
}
