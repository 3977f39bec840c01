"""The OpenAPI fragments of the service's resources: one module per resource (named as its views
module in api/views/), each with ``openapi(settings)`` returning its paths and components. The
request bodies are validated against these very schemas (api.validation); api/openapi.py
assembles the document. Views hold handlers only."""
