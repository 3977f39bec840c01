"""The service's resources: one module per resource with a ``blueprint`` of handlers only (parse
and validate, call `triage`, serialize) and, optionally, ``setup(state)``; their OpenAPI
fragments are in api/schemas/, under the same names; `api.factory.RESOURCES` lists the pairs."""
